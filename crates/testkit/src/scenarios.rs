//! The call scenarios every front end must tell the same way.
//!
//! Issue 19 moved the call flow into `engine::phone` so that the CLI and
//! the app cannot disagree again. This table is the check: the CLI's test
//! (`crates/cli/tests/call_scenarios.rs`) and the app's
//! (`src-tauri/tests/call_scenarios.rs`) play every row through their own
//! front end and compare what each party is told and what each history
//! records with the same row. The types here are the table's own, not the
//! engine's: each test translates what its front end shows (an exit
//! message, an event payload, a history line) into them, so a front end
//! that renames or merges outcomes fails its test.

use std::time::Duration;

/// What happens in one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// The callee answers; once both talk, the caller hangs up.
    CallerHangsUp,
    /// The callee answers; once both talk, the callee hangs up.
    CalleeHangsUp,
    /// The callee declines while it rings.
    Rejected,
    /// The caller gives up while it rings.
    CancelledWhileRinging,
    /// Nobody answers before the registry's ring timeout.
    Missed,
    /// The callee has an account but no push connection.
    CalleeOffline,
    /// The callee is in a call with a third party already.
    Busy,
    /// The caller compared and verified the callee's key, then the
    /// registry served another one: the call is refused before it rings.
    KeyChangedRefused,
}

/// How a call ended, as its party is told (the engine's `EndReason`,
/// plus the refusal before ringing, which front ends report as an error).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    /// This party hung up.
    HungUp,
    /// The other party hung up.
    RemoteHungUp,
    /// This party gave up while it rang.
    Cancelled,
    /// Declined.
    Rejected,
    /// Not answered.
    Missed,
    /// The callee was in another call.
    Busy,
    /// The callee was not connected.
    Offline,
    /// Refused before ringing: the callee's key is not the pinned one.
    KeyChanged,
}

/// Which way a history entry goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// This party called.
    Outgoing,
    /// This party was called.
    Incoming,
}

/// A history entry's outcome (the engine's `account::Outcome`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Talked, then someone hung up.
    Completed,
    /// Not answered (ring timeout, cancelled by the caller, or offline).
    Missed,
    /// Declined.
    Rejected,
    /// The caller gave up while it rang.
    Cancelled,
    /// The callee was in another call.
    Busy,
    /// Anything else, a refused changed key included.
    Failed,
}

/// What one party of a row sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side {
    /// How the call ends for this party; `None` when it never shows here
    /// (it did not ring, or it was declined as busy without ringing).
    pub end: Option<End>,
    /// The history entries this party has about the other one afterwards,
    /// oldest first.
    pub history: &'static [(Direction, Outcome)],
}

/// One scenario and what each party must see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    /// What happens.
    pub scenario: Scenario,
    /// The party that rings.
    pub caller: Side,
    /// The party rung.
    pub callee: Side,
}

impl Row {
    /// The registry's ring timeout for this row. The missed row needs a
    /// short one (the registry's default is 45 s); the others need one
    /// long enough that no ring on a slow machine runs out.
    pub fn ring_timeout(&self) -> Duration {
        match self.scenario {
            Scenario::Missed => Duration::from_secs(3),
            _ => Duration::from_secs(45),
        }
    }

    /// Asserts that each party saw what this row says.
    pub fn check(&self, caller: Seen, callee: Seen) {
        for (who, got, want) in [
            ("caller", caller, self.caller),
            ("callee", callee, self.callee),
        ] {
            assert_eq!(got.end, want.end, "{:?}: the {who} was told", self.scenario);
            if let Some(h) = got.history {
                assert_eq!(h, want.history, "{:?}: the {who}'s history", self.scenario);
            }
        }
    }
}

/// What one party's front end showed in a played row, in the table's
/// terms, for [`Row::check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// How the front end said the call ended, if it did.
    pub end: Option<End>,
    /// The party's history about the other, oldest first; `None` when the
    /// test has no front end of ours on that side to read it from.
    pub history: Option<Vec<(Direction, Outcome)>>,
}

impl Seen {
    /// A side played by no front end under test: nothing to compare.
    pub const NOTHING: Seen = Seen {
        end: None,
        history: None,
    };
}

/// What a front end showed: its end and its history.
pub fn seen(end: Option<End>, history: Vec<(Direction, Outcome)>) -> Seen {
    Seen {
        end,
        history: Some(history),
    }
}

const fn side(end: Option<End>, history: &'static [(Direction, Outcome)]) -> Side {
    Side { end, history }
}

use Direction::{Incoming, Outgoing};

/// The table. docs/engine.md ("The phone: decisions") says why each entry
/// is what it is.
pub const SCENARIOS: &[Row] = &[
    Row {
        scenario: Scenario::CallerHangsUp,
        caller: side(Some(End::HungUp), &[(Outgoing, Outcome::Completed)]),
        callee: side(Some(End::RemoteHungUp), &[(Incoming, Outcome::Completed)]),
    },
    Row {
        scenario: Scenario::CalleeHangsUp,
        caller: side(Some(End::RemoteHungUp), &[(Outgoing, Outcome::Completed)]),
        callee: side(Some(End::HungUp), &[(Incoming, Outcome::Completed)]),
    },
    Row {
        scenario: Scenario::Rejected,
        caller: side(Some(End::Rejected), &[(Outgoing, Outcome::Rejected)]),
        callee: side(Some(End::Rejected), &[(Incoming, Outcome::Rejected)]),
    },
    Row {
        scenario: Scenario::CancelledWhileRinging,
        caller: side(Some(End::Cancelled), &[(Outgoing, Outcome::Cancelled)]),
        callee: side(Some(End::Missed), &[(Incoming, Outcome::Missed)]),
    },
    Row {
        scenario: Scenario::Missed,
        caller: side(Some(End::Missed), &[(Outgoing, Outcome::Missed)]),
        callee: side(Some(End::Missed), &[(Incoming, Outcome::Missed)]),
    },
    Row {
        scenario: Scenario::CalleeOffline,
        caller: side(Some(End::Offline), &[(Outgoing, Outcome::Missed)]),
        callee: side(None, &[]),
    },
    Row {
        scenario: Scenario::Busy,
        caller: side(Some(End::Busy), &[(Outgoing, Outcome::Busy)]),
        // The registry answers busy itself and never rings the callee, who
        // therefore has nothing to show or record.
        callee: side(None, &[]),
    },
    Row {
        scenario: Scenario::KeyChangedRefused,
        caller: side(Some(End::KeyChanged), &[(Outgoing, Outcome::Failed)]),
        callee: side(None, &[]),
    },
];
