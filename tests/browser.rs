//! The HTML report in a real headless Chromium: every pair is listed, names are text (a file
//! named like an HTML tag does not run), the viewer shows the images, the swipe slider moves
//! under the mouse and the keyboard, filters and sorting work. Skipped with a message when no
//! browser is installed, unless `DIFFIMG_REQUIRE_BROWSER=1`. With `DIFFIMG_SCREENSHOT=PATH`,
//! the page as shown is saved there (the picture in docs/batch.md).

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use common::tree::{Tree, lines};
use headless_chrome::protocol::cdp::Page;
use headless_chrome::{Browser, LaunchOptions, Tab};
use image::{Rgba, RgbaImage};
use serde_json::Value;

const EVIL: &str = "<img src=x onerror=alert(1)>.png";
/// A name with a direction override and a terminal escape, and how the page shows it.
const BIDI: &str = "rtl-\u{202e}gnp.exe\x1b[1m.png";
const BIDI_SHOWN: &str = "rtl-\\u{202e}gnp.exe\\x1b[1m.png";

/// Chromium's path: `CHROME`, or `chromium` / `chromium-browser` / `google-chrome` on `PATH`.
fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROME") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .flat_map(|dir| ["chromium", "chromium-browser", "google-chrome"].map(|n| dir.join(n)))
        .find(|candidate| candidate.is_file())
}

/// A screenshot-like picture: a header bar, a sidebar and rows of text-like strokes, with
/// `edit` moving a button and recolouring the header.
fn screen(seed: u64, edit: bool) -> RgbaImage {
    let mut rng = fastrand::Rng::with_seed(seed);
    let (w, h) = (480, 300);
    let mut image = RgbaImage::from_pixel(w, h, Rgba([250, 250, 252, 255]));
    let fill = |image: &mut RgbaImage, x: u32, y: u32, rw: u32, rh: u32, c: [u8; 3]| {
        for yy in y..(y + rh).min(h) {
            for xx in x..(x + rw).min(w) {
                image.put_pixel(xx, yy, Rgba([c[0], c[1], c[2], 255]));
            }
        }
    };
    let header = if edit { [40, 90, 200] } else { [30, 34, 48] };
    fill(&mut image, 0, 0, w, 36, header);
    fill(&mut image, 0, 36, 110, h - 36, [236, 238, 243]);
    for row in 0..9 {
        let y = 56 + row * 26;
        fill(&mut image, 14, y, 60 + rng.u32(..30), 8, [150, 155, 170]);
        fill(&mut image, 130, y, 120 + rng.u32(..200), 9, [60, 64, 80]);
    }
    let button_x = if edit { 330 } else { 370 };
    fill(&mut image, button_x, 250, 90, 28, [224, 36, 94]);
    image
}

/// A report over nine pairs: equal, re-encoded, changed, added, removed, broken, one whose name
/// is an HTML tag and an equal one whose name has characters that act on text. Returns the report's path and the pair names.
fn make_report(root: &Path) -> (PathBuf, Vec<String>) {
    let tree = Tree::new(root);
    let save = |side: &Path, name: &str, image: &RgbaImage| {
        let path = side.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        image.save(path).unwrap();
    };
    for (i, name) in ["login.png", "settings/profile.png", EVIL]
        .iter()
        .enumerate()
    {
        save(&tree.a, name, &screen(i as u64, false));
        save(&tree.b, name, &screen(i as u64, true));
    }
    save(&tree.a, "home.png", &screen(7, false));
    std::fs::copy(tree.a.join("home.png"), tree.b.join("home.png")).unwrap();
    save(&tree.a, BIDI, &screen(12, false));
    std::fs::copy(tree.a.join(BIDI), tree.b.join(BIDI)).unwrap();
    tree.reencoded("settings/theme.png", 8);
    save(&tree.b, "onboarding.png", &screen(9, false));
    save(&tree.a, "legacy.png", &screen(10, true));
    std::fs::write(tree.a.join("broken.png"), b"\x89PNG\r\n\x1a\ntruncated").unwrap();
    save(&tree.b, "broken.png", &screen(11, false));
    let report = root.join("report.html");
    let out = common::command()
        .args([&tree.a, &tree.b])
        .args([
            OsStr::new("--report"),
            report.as_os_str(),
            OsStr::new("--max-ratio"),
            OsStr::new("0.0315"),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let (records, _) = lines(&out.stdout);
    let mut names: Vec<String> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    (report, names)
}

fn eval(tab: &Tab, script: &str) -> Value {
    let wrapped = format!("JSON.stringify((() => {{ {script} }})())");
    let result = tab.evaluate(&wrapped, false).unwrap();
    let text = result
        .value
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

fn images_loaded(tab: &Tab) {
    tab.evaluate(
        "Promise.all(Array.from(document.images).map(i => i.complete ? 0 : new Promise(r => { i.onload = i.onerror = r; })))",
        true,
    )
    .unwrap();
}

fn row_of(tab: &Tab, name: &str) -> i64 {
    let script = format!(
        "const i = pairs.findIndex(p => p.name === {}); return i;",
        serde_json::to_string(name).unwrap()
    );
    eval(tab, &script).as_i64().unwrap()
}

#[test]
fn report_works_in_a_real_browser() {
    let Some(chrome) = chromium() else {
        assert!(
            !std::env::var("DIFFIMG_REQUIRE_BROWSER").is_ok_and(|v| v == "1"),
            "no Chromium found, and DIFFIMG_REQUIRE_BROWSER=1"
        );
        eprintln!(
            "skipped: no Chromium on PATH (apt-get install chromium); set DIFFIMG_REQUIRE_BROWSER=1 to require one"
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (report, names) = make_report(dir.path());
    let profile = tempfile::tempdir().unwrap();
    let flags = [
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
    ];
    let options = LaunchOptions::default_builder()
        .path(Some(chrome))
        .headless(true)
        .sandbox(false)
        .window_size(Some((1280, 800)))
        .user_data_dir(Some(profile.path().to_owned()))
        .args(flags.iter().map(OsStr::new).collect())
        .build()
        .unwrap();
    let browser = Browser::new(options).unwrap();
    let tab = browser.new_tab().unwrap();
    tab.call_method(Page::AddScriptToEvaluateOnNewDocument {
        source: "window.__alerts = 0; window.__errors = []; \
                 window.alert = window.confirm = window.prompt = () => { window.__alerts++; }; \
                 window.addEventListener('error', e => window.__errors.push(String(e.message)));"
            .into(),
        world_name: None,
        include_command_line_api: None,
        run_immediately: None,
    })
    .unwrap();
    let url = format!("file://{}", report.canonicalize().unwrap().display());
    tab.navigate_to(&url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    images_loaded(&tab);

    // Every pair is listed, by its name as text, characters that act on text shown escaped.
    let listed = eval(
        &tab,
        "return Array.from(document.querySelectorAll('#pairs tbody tr')).map(r => r.cells[2].textContent).sort();",
    );
    let mut expected: Vec<&str> = names
        .iter()
        .map(|n| if n == BIDI { BIDI_SHOWN } else { n })
        .collect();
    expected.sort();
    assert_eq!(listed, serde_json::json!(expected));
    assert_eq!(names.len(), 9);
    let bidi = row_of(&tab, BIDI);
    let escapes = format!(
        "return Array.from(document.querySelectorAll('tr[data-i=\"{bidi}\"] .esc')).map(e => e.textContent);"
    );
    assert_eq!(
        eval(&tab, &escapes),
        serde_json::json!(["\\u{202e}", "\\x1b"])
    );
    tab.find_element(&format!("tr[data-i=\"{bidi}\"]"))
        .unwrap()
        .click()
        .unwrap();
    let heading = "const h = document.querySelector('#view h2'); \
                   return [h.textContent, h.querySelectorAll('.esc').length];";
    assert_eq!(eval(&tab, heading), serde_json::json!([BIDI_SHOWN, 2]));
    // The tag in a name stays text: no element made of it, nothing run.
    assert_eq!(
        eval(
            &tab,
            "return document.querySelectorAll('img[src=\"x\"]').length;"
        ),
        0
    );
    assert_eq!(eval(&tab, "return window.__alerts;"), 0);
    let evil = row_of(&tab, EVIL);
    tab.find_element(&format!("tr[data-i=\"{evil}\"]"))
        .unwrap()
        .click()
        .unwrap();
    assert_eq!(
        eval(
            &tab,
            "return document.querySelector('#view h2').textContent;"
        ),
        EVIL
    );
    assert_eq!(eval(&tab, "return window.__alerts;"), 0);

    // A changed pair side by side: both images and the difference, loaded.
    let changed = row_of(&tab, "settings/profile.png");
    tab.find_element(&format!("tr[data-i=\"{changed}\"]"))
        .unwrap()
        .click()
        .unwrap();
    images_loaded(&tab);
    let widths = eval(
        &tab,
        "return Array.from(document.querySelectorAll('.side img')).map(i => i.naturalWidth);",
    );
    assert_eq!(widths, serde_json::json!([480, 480, 480]));

    // Swipe: the slider moves under the mouse and the arrow keys, and clips the top image.
    tab.press_key("w").unwrap();
    let clip = || {
        eval(
            &tab,
            "return document.getElementById('top').style.clipPath;",
        )
    };
    assert_eq!(clip(), "inset(0px 0px 0px 50%)");
    let slider = tab.find_element("#slider").unwrap();
    let quad = slider.get_box_model().unwrap().content;
    let point = headless_chrome::browser::tab::point::Point {
        x: quad.top_left.x + (quad.top_right.x - quad.top_left.x) * 0.8,
        y: (quad.top_left.y + quad.bottom_left.y) / 2.0,
    };
    tab.click_point(point).unwrap();
    let value = eval(
        &tab,
        "return Number(document.getElementById('slider').value);",
    )
    .as_i64()
    .unwrap();
    assert!((75..=85).contains(&value), "slider at {value}");
    assert_eq!(clip(), format!("inset(0px 0px 0px {value}%)"));
    tab.press_key("Escape").unwrap();
    eval(&tab, "document.activeElement.blur(); return 0;");
    tab.press_key("ArrowLeft").unwrap();
    assert_eq!(clip(), format!("inset(0px 0px 0px {}%)", value - 5));
    // Onion skin: the slider sets the opacity.
    tab.press_key("o").unwrap();
    assert_eq!(
        eval(&tab, "return document.getElementById('top').style.opacity;"),
        format!("{}", f64::from((value - 5) as i32) / 100.0)
    );

    // Keyboard navigation, filters and sorting.
    let current = || {
        eval(
            &tab,
            "return Number(document.querySelector('tr.current').dataset.i);",
        )
    };
    let before = current();
    tab.press_key("j").unwrap();
    assert_ne!(current(), before);
    tab.find_element("button[data-filter=changed]")
        .unwrap()
        .click()
        .unwrap();
    let shown = eval(
        &tab,
        "return Array.from(document.querySelectorAll('#pairs tbody tr:not(.hidden)')).map(r => pairs[r.dataset.i].status);",
    );
    assert_eq!(shown.as_array().unwrap().len(), 3, "{shown}");
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s == "changed" || s == "over-gate")
    );
    tab.find_element("button[data-filter=errors]")
        .unwrap()
        .click()
        .unwrap();
    let shown = eval(
        &tab,
        "return document.querySelectorAll('#pairs tbody tr:not(.hidden)').length;",
    );
    assert_eq!(shown, 1);
    tab.find_element("button[data-filter=all]")
        .unwrap()
        .click()
        .unwrap();
    tab.find_element("th[data-sort=ratio]")
        .unwrap()
        .click()
        .unwrap();
    let ratios = eval(
        &tab,
        "return Array.from(document.querySelectorAll('#pairs tbody tr')).map(r => pairs[r.dataset.i].ratio ?? -1);",
    );
    let ratios: Vec<f64> = ratios
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(ratios.windows(2).all(|w| w[0] >= w[1]), "{ratios:?}");
    assert_eq!(eval(&tab, "return window.__errors;"), serde_json::json!([]));

    // The picture in docs/batch.md: the changed pair in the swipe view.
    let changed = row_of(&tab, "login.png");
    tab.find_element(&format!("tr[data-i=\"{changed}\"]"))
        .unwrap()
        .click()
        .unwrap();
    tab.press_key("w").unwrap();
    tab.press_key("ArrowLeft").unwrap();
    images_loaded(&tab);
    let png = tab
        .capture_screenshot(Page::CaptureScreenshotFormatOption::Png, None, None, true)
        .unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    if let Some(path) = std::env::var_os("DIFFIMG_SCREENSHOT") {
        std::fs::write(path, &png).unwrap();
    }

    // The same folders with the render metrics: FLIP and SSIM columns, sorted by FLIP, and the
    // pair's figures in its facts.
    let metrics = dir.path().join("metrics.html");
    let out = common::command()
        .args([&dir.path().join("a"), &dir.path().join("b")])
        .args([OsStr::new("--report"), metrics.as_os_str()])
        .args(["--flip", "--ssim"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", common::stderr(&out));
    let url = format!("file://{}", metrics.canonicalize().unwrap().display());
    tab.navigate_to(&url)
        .unwrap()
        .wait_until_navigated()
        .unwrap();
    images_loaded(&tab);
    tab.find_element("th[data-sort=flip]")
        .unwrap()
        .click()
        .unwrap();
    let flips = eval(
        &tab,
        "return Array.from(document.querySelectorAll('#pairs tbody tr')).map(r => pairs[r.dataset.i].flip ?? -1);",
    );
    let flips: Vec<f64> = flips
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert!(flips.windows(2).all(|w| w[0] >= w[1]), "{flips:?}");
    assert!(flips[0] > 0.0, "{flips:?}");
    let changed = row_of(&tab, "login.png");
    tab.find_element(&format!("tr[data-i=\"{changed}\"]"))
        .unwrap()
        .click()
        .unwrap();
    let facts = eval(&tab, "return document.getElementById('facts').textContent;");
    let facts = facts.as_str().unwrap();
    assert!(
        facts.contains("FLIP 0.") && facts.contains("SSIM 0."),
        "{facts}"
    );
    assert_eq!(eval(&tab, "return window.__errors;"), serde_json::json!([]));
}
