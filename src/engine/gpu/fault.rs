//! Failures caused on purpose, for the tests that GPU trouble never panics or changes a
//! result; built only with the `test-hooks` feature.

/// Where the GPU engine can be made to fail. Allocation, dispatch and device loss are real
/// failures provoked in the driver; the others return the error the real failure would.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// No adapter is found.
    Adapter,
    /// The device cannot be created.
    Device,
    /// A buffer larger than the device allows is requested.
    Allocation,
    /// A dispatch with more workgroups than the device allows.
    Dispatch,
    /// Mapping the results for reading fails.
    ReadBack,
    /// The device is destroyed after the first band.
    DeviceLost,
    /// The first submission never finishes: the engine waits its timeout, then fails as a
    /// hung device makes it fail.
    Hang,
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(name: &str) -> Result<Fault, String> {
        Ok(match name {
            "adapter" => Fault::Adapter,
            "device" => Fault::Device,
            "allocation" => Fault::Allocation,
            "dispatch" => Fault::Dispatch,
            "readback" => Fault::ReadBack,
            "lost" => Fault::DeviceLost,
            "hang" => Fault::Hang,
            _ => return Err(format!("unknown GPU fault '{name}'")),
        })
    }
}
