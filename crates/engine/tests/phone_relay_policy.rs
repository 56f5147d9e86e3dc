//! Which calls offer only relayed candidates (`NetSettings::relay_only`):
//! "always relay" relays every call and refuses to call without a relay;
//! "relay strangers" relays calls with people the user did not choose, but
//! only when a relay exists (a stranger's call still goes direct rather
//! than not at all).

use engine::phone::{NetSettings, RelayUnavailable};

fn settings(always_relay: bool, relay_strangers: bool) -> NetSettings {
    NetSettings {
        always_relay,
        relay_strangers,
        ..NetSettings::default()
    }
}

#[test]
fn by_default_strangers_are_relayed_when_a_relay_exists() {
    let d = NetSettings::default();
    assert!(d.relay_strangers && !d.always_relay);
    assert_eq!(d.relay_only(false, true), Ok(true));
    assert_eq!(d.relay_only(true, true), Ok(false));
    assert_eq!(d.relay_only(false, false), Ok(false));
    assert_eq!(d.relay_only(true, false), Ok(false));
}

#[test]
fn strangers_go_direct_when_the_user_turned_the_rule_off() {
    let s = settings(false, false);
    assert_eq!(s.relay_only(false, true), Ok(false));
}

#[test]
fn always_relay_relays_everyone_and_refuses_without_a_relay() {
    for relay_strangers in [false, true] {
        let s = settings(true, relay_strangers);
        assert_eq!(s.relay_only(true, true), Ok(true));
        assert_eq!(s.relay_only(false, true), Ok(true));
        assert_eq!(s.relay_only(true, false), Err(RelayUnavailable));
        assert_eq!(s.relay_only(false, false), Err(RelayUnavailable));
    }
    assert_eq!(
        RelayUnavailable.to_string(),
        "always relay is on, but the registry offers no relay"
    );
}
