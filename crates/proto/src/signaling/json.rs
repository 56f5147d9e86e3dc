//! Turning untrusted JSON into checked messages.
//!
//! Field types enforce their own rule while serde deserializes them;
//! [`Validate`] adds the rules that span fields; [`parse`] runs both and
//! maps every failure to a stable [`ErrorCode`].

use std::fmt;

use serde::de::{self, DeserializeOwned};

use super::{ErrorCode, MAX_REQUEST_BODY, SignalingError};

// Deserializers of the field types below report a violated rule as
// "<code>: <detail>" through serde's custom error; `parse` reads the code
// back so the caller gets the precise reason instead of "malformed JSON".
pub(super) fn field_error<E: de::Error>(code: ErrorCode, detail: impl fmt::Display) -> E {
    E::custom(format_args!("{}: {detail}", code.as_str()))
}

/// Serde for a newtype over text: serialized as its string, deserialized
/// through `$check` (a `fn(&str) -> Result<Self, SignalingError>`), whose
/// error code and detail become the serde error.
macro_rules! text_serde {
    ($name:ident, $check:ident) => {
        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                Self::$check(&text)
                    .map_err(|e| $crate::signaling::json::field_error(e.code, e.detail))
            }
        }
    };
}

/// Requests that carry rules spanning several fields.
///
/// Rules that concern one field are enforced by that field's type while
/// parsing; `validate` adds the rest. [`parse`] calls both.
pub trait Validate {
    /// Checks the rules that field types cannot check alone.
    fn validate(&self) -> Result<(), SignalingError>;
}

/// Parses and validates one JSON message from untrusted bytes.
///
/// Never panics. Errors name the rule that was broken: bad UTF-8, malformed
/// JSON, an unknown or missing field, or a field-specific code such as
/// [`ErrorCode::InvalidUsername`].
pub fn parse<T: DeserializeOwned + Validate>(bytes: &[u8]) -> Result<T, SignalingError> {
    if bytes.len() > MAX_REQUEST_BODY {
        return Err(SignalingError::new(
            ErrorCode::PayloadTooLarge,
            format!("message is larger than {MAX_REQUEST_BODY} bytes"),
        ));
    }
    if let Err(e) = std::str::from_utf8(bytes) {
        return Err(SignalingError::new(
            ErrorCode::InvalidUtf8,
            format!("body is not UTF-8 (at byte {})", e.valid_up_to()),
        ));
    }
    let value: T = serde_json::from_slice(bytes).map_err(classify_json_error)?;
    value.validate()?;
    Ok(value)
}

fn classify_json_error(e: serde_json::Error) -> SignalingError {
    use serde_json::error::Category;
    let text = e.to_string();
    let code = match e.classify() {
        Category::Data => {
            if let Some((name, _)) = text.split_once(": ")
                && let Some(code) = ErrorCode::from_wire_name(name)
            {
                code
            } else if text.starts_with("unknown field") || text.starts_with("unknown variant") {
                ErrorCode::UnknownField
            } else if text.starts_with("missing field") {
                ErrorCode::MissingField
            } else {
                ErrorCode::MalformedJson
            }
        }
        Category::Syntax | Category::Eof | Category::Io => ErrorCode::MalformedJson,
    };
    // Strip our own "<code>: " prefix so the detail reads naturally.
    let detail = match text.split_once(": ") {
        Some((name, rest)) if ErrorCode::from_wire_name(name).is_some() => rest.to_owned(),
        _ => text,
    };
    SignalingError::new(code, detail)
}
