//! Detection, pure core: what the function finds in the click stream by itself.
//!
//! - [`burst`]: users clicking faster than a person can, within one batch;
//! - [`rates`]: the site's clicks, each page's clicks and the distinct users per event-time
//!   window, across batches, each scored by a [`model`] (with its [`season`], [`novelty`] and
//!   slow scale, [`drift`], all told by [`params`]) and gathered into [`episode`]s; a level
//!   judged by `detect --kind level` also has a [`range`];
//! - [`series`]: one series' model and episodes together, shared with the `detect` command;
//! - [`page`]: page names normalized and bounded;
//! - [`findings`]: what was found, as anomalies of the documented schema;
//! - [`settings`]: what the detectors are told;
//! - [`standalone`]: one series' detector for the benchmark outside the crate;
//! - [`store`]: where the rate state lives between invocations (the trait), [`memory`] (this
//!   container's memory) and [`streams`] (the protocol that shares a stream between containers).
//!
//! The producer's own `anomaly_detected` flag is read by the transform; records learn their
//! reasons (`producer_flag`, `user_burst`) there, because the rate series are judged only once a
//! window closes, after its records were answered.

pub(crate) mod burst;
pub(crate) mod drift;
pub(crate) mod episode;
pub(crate) mod findings;
pub(crate) mod memory;
pub(crate) mod model;
pub(crate) mod novelty;
pub(crate) mod page;
pub(crate) mod params;
pub(crate) mod range;
pub(crate) mod rates;
pub(crate) mod season;
pub(crate) mod series;
pub(crate) mod settings;
pub(crate) mod standalone;
pub(crate) mod store;
pub(crate) mod streams;
