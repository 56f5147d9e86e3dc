//! The phone: one call at a time, decided once for the CLI and the app.
//!
//! Two halves, as in `proto`:
//!
//! * [`CallController`] (sans-IO) decides: which registry step to send,
//!   when to check an offer or an answer, when media starts and stops, what
//!   the history records, and what a front end shows ([`CallSnapshot`]).
//!   Time and events go in (`place`, `accept`, `handle_push`, …, each with
//!   `now`), [`Action`]s come out of [`CallController::poll_action`]; drain
//!   it after every input. Its unit tests (`tests/phone_controller.rs`)
//!   replay the races deterministically.
//! * [`Phone`] (the driver) does: it runs the controller on a tokio task
//!   against the [`RegistryClient`](crate::registry_client::RegistryClient)
//!   (push socket, call steps, status), the checks of [`crate::dial`], the
//!   gathering of each call's addresses ([`crate::net::gather`], with the
//!   registry's STUN/TURN servers and the user's [`NetSettings`]), and the
//!   media loop ([`crate::call::Call`]) on a blocking thread. Front
//!   ends send it commands and read [`PhoneEvent`]s; what they need from
//!   the profile and the devices comes through [`PhoneHooks`].
//!
//! Decisions where the CLI and the app used to disagree are written down
//! in docs/engine.md ("The phone").

mod controller;
mod driver;
mod ice;
mod types;

pub use controller::{CallController, PEER_END_GRACE_MS};
pub use driver::{Phone, PhoneEvent, PhoneHooks, SHUTDOWN_WAIT, SetupError, unix_ms};
pub use types::{
    Action, CallRef, CallSnapshot, CallState, EndReason, NetSettings, OfferCheck, PhoneError,
    PlaceFailure, RelayUnavailable, StatusReport,
};
