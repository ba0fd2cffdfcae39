//! Why a Firehose record cannot be transformed. Every reason answers the record
//! `ProcessingFailed` with its original data, so Firehose writes it to the error prefix and
//! nothing is lost; the code names the reason in the log line.

use thiserror::Error;

use super::timestamp::TimestampError;

/// Why a record's payload is not a usable click.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub(crate) enum Rejection {
    #[error("record has no `data` (or `kafkaRecordValue`) string")]
    NoData,
    /// `recordId`, `data` or `kafkaRecordValue` given twice: which one Firehose meant is unknown.
    #[error("record envelope has `{0}` more than once")]
    DuplicateEnvelopeField(&'static str),
    /// Both `data` and `kafkaRecordValue`: which one is the payload is unknown.
    #[error("record has both `data` and `kafkaRecordValue`")]
    TwoPayloads,
    #[error("data is not valid base64")]
    InvalidBase64,
    #[error("decoded data is not UTF-8")]
    NotUtf8,
    /// A `\uD800`-`\uDFFF` escape without its pair: valid JSON syntax, but no Unicode text, so
    /// no reader downstream agrees on what it means.
    #[error("decoded data holds a lone UTF-16 surrogate escape (\\uD800-\\uDFFF without its pair)")]
    LoneSurrogate,
    /// Not exactly one JSON object (whitespace around it is fine).
    #[error("decoded data is not exactly one JSON object")]
    NotOneJsonObject,
    #[error("required field `{0}` is missing")]
    MissingField(&'static str),
    #[error("field `{field}` must be {expected}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
    },
    #[error(transparent)]
    BadTimestamp(#[from] TimestampError),
}

impl Rejection {
    /// A short stable code for logs and metrics dimensions.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            Self::NoData => "no_data",
            Self::DuplicateEnvelopeField(_) => "duplicate_envelope_field",
            Self::TwoPayloads => "two_payloads",
            Self::InvalidBase64 => "invalid_base64",
            Self::NotUtf8 => "not_utf8",
            Self::LoneSurrogate => "lone_surrogate",
            Self::NotOneJsonObject => "not_one_json_object",
            Self::MissingField(_) => "missing_field",
            Self::WrongType { .. } => "wrong_type",
            Self::BadTimestamp(_) => "bad_timestamp",
        }
    }
}
