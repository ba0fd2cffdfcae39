//! The alert path, pure core: anomalies read into one schema ([`anomaly`]), folded as they come
//! ([`digest`]), held back or let through by storm control ([`cooldown`]), composed into one
//! bounded, safe message ([`compose`], [`sanitize`], [`severity`]), and handed to whatever
//! [`publisher`] the adapters provide; [`sender`] ties these together for one invocation.

pub(crate) mod anomaly;
pub(crate) mod compose;
pub(crate) mod cooldown;
pub(crate) mod digest;
pub(crate) mod publisher;
pub(crate) mod sanitize;
pub(crate) mod sender;
pub(crate) mod severity;
pub(crate) mod source;
pub(crate) mod words;
