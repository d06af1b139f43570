//! CNI errors: the spec's error result (`{cniVersion, code, msg, details}`)
//! and its well-known codes (SPEC.md, "Error"), plus netloom's own codes
//! (100 and up, which the spec leaves to plugins).
use serde::Serialize;

/// Incompatible CNI version.
pub const INCOMPATIBLE_VERSION: u32 = 1;
/// Unsupported field in the network configuration (the message names key and value).
pub const UNSUPPORTED_FIELD: u32 = 2;
/// Container unknown or does not exist.
pub const UNKNOWN_CONTAINER: u32 = 3;
/// Invalid necessary environment variables (the message names them).
pub const INVALID_ENV: u32 = 4;
/// I/O failure.
pub const IO_FAILURE: u32 = 5;
/// Failed to decode content.
pub const DECODE: u32 = 6;
/// Invalid network configuration.
pub const INVALID_CONFIG: u32 = 7;
/// Try again later (a transient condition: another netloom holds its lock).
pub const TRY_AGAIN_LATER: u32 = 11;
/// STATUS: the plugin cannot service ADD requests.
pub const NOT_AVAILABLE: u32 = 50;
/// The kernel refused a change (the message carries the kernel's words);
/// everything the request had changed was undone.
pub const KERNEL: u32 = 100;
/// ADD: an interface called CNI_IFNAME already exists in the container,
/// or this (container, interface) is attached already.
pub const IFNAME_EXISTS: u32 = 101;
/// No free address left in the IPAM ranges.
pub const ADDRESSES_EXHAUSTED: u32 = 102;
/// A delegated plugin (IPAM) failed; its own error is in `details`.
pub const DELEGATE: u32 = 103;
/// CHECK: the attachment is not as ADD left it (what differs is in `msg`).
pub const CHECK_FAILED: u32 = 104;

/// A CNI error result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{msg}{}", if details.is_empty() { String::new() } else { format!(": {details}") })]
pub struct CniError {
    /// The numeric code (see the constants of this module).
    pub code: u32,
    /// A short message characterizing the error.
    pub msg: String,
    /// A longer message describing the error.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub details: String,
}

impl CniError {
    /// An error with `code` and `msg`, without details.
    pub fn new(code: u32, msg: impl Into<String>) -> CniError {
        CniError {
            code,
            msg: msg.into(),
            details: String::new(),
        }
    }

    /// The same error with `details`.
    pub fn with(mut self, details: impl Into<String>) -> CniError {
        self.details = details.into();
        self
    }

    /// The error result as the spec prints it, for protocol version `version`.
    pub fn to_json(&self, version: &str) -> String {
        #[derive(Serialize)]
        struct Out<'a> {
            #[serde(rename = "cniVersion")]
            cni_version: &'a str,
            #[serde(flatten)]
            err: &'a CniError,
        }
        serde_json::to_string(&Out {
            cni_version: version,
            err: self,
        })
        .unwrap_or_else(|_| format!("{{\"code\":{},\"msg\":\"error\"}}", self.code))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_result_has_the_spec_shape() {
        let e = CniError::new(INVALID_CONFIG, "Invalid Configuration").with("too small");
        let v: serde_json::Value = serde_json::from_str(&e.to_json("1.1.0")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"cniVersion": "1.1.0", "code": 7, "msg": "Invalid Configuration", "details": "too small"})
        );
        let bare: serde_json::Value =
            serde_json::from_str(&CniError::new(4, "x").to_json("1.0.0")).unwrap();
        assert!(bare.get("details").is_none(), "{bare}");
    }
}
