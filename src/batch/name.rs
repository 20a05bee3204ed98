//! A pair's name: the raw bytes of a relative path (`/` between folders) or of a list's name.
//! Records show it as text, and, when it is not UTF-8, also byte for byte in hex as
//! `name_bytes`; pair lists and `merge` take that form back.

use std::borrow::Cow;
use std::fmt;
use std::path::PathBuf;

use data_encoding::HEXLOWER_PERMISSIVE;

/// The bytes of a name, compared, sorted and hashed as they are.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Name(Vec<u8>);

impl Name {
    /// A name of these bytes.
    pub fn new(bytes: Vec<u8>) -> Name {
        Name(bytes)
    }

    /// The name given in hex, as `name_bytes` holds it.
    pub fn from_hex(hex: &str) -> Result<Name, String> {
        HEXLOWER_PERMISSIVE
            .decode(hex.as_bytes())
            .map(Name)
            .map_err(|e| format!("name_bytes '{hex}' is not hex: {e}"))
    }

    /// The name's raw bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The name as text, bytes that are not UTF-8 replaced by U+FFFD.
    pub fn lossy(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.0)
    }

    /// The name in hex when it is not UTF-8: the text alone does not give it back.
    pub fn hex(&self) -> Option<String> {
        std::str::from_utf8(&self.0)
            .is_err()
            .then(|| HEXLOWER_PERMISSIVE.encode(&self.0))
    }

    /// The name as a path, byte for byte where the system allows it.
    pub fn to_path(&self) -> PathBuf {
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            std::ffi::OsStr::from_bytes(&self.0).into()
        }
        #[cfg(not(unix))]
        {
            self.lossy().into_owned().into()
        }
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name(text.into_bytes())
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.lossy())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_only_when_not_utf8_and_back() {
        assert_eq!(Name::from("x.png".to_owned()).hex(), None);
        let raw = Name::new(b"x\xfe".to_vec());
        assert_eq!(raw.hex().as_deref(), Some("78fe"));
        assert_eq!(raw.lossy(), "x\u{fffd}");
        assert_eq!(Name::from_hex("78FE"), Ok(raw));
        assert!(Name::from_hex("7").is_err());
    }
}
