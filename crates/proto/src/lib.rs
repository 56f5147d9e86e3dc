//! The sans-IO protocol core of pqvoice.
//!
//! Nothing in this crate touches a socket, a file, a thread or a clock. Every
//! function whose result depends on time takes `now` as an argument; input
//! arrives through `handle_*` methods and output leaves through `poll_*`
//! methods. That makes every protocol rule testable deterministically over a
//! simulated network with a virtual clock.

/// Version of the wire protocol spoken by this crate.
pub const PROTOCOL_VERSION: u8 = 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_version_fits_in_the_low_nibble_of_the_type_byte() {
        assert!(PROTOCOL_VERSION > 0 && PROTOCOL_VERSION < 16);
    }
}
