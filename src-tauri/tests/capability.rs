//! The main window's capability grants exactly the app's commands (the one
//! list in `commands.list`) and the event listening the UI needs: a
//! command added to the list but not granted would fail in the UI, and a
//! grant without a command would be a permission nobody reviewed.

use std::collections::BTreeSet;

/// Grants the UI needs besides the app's own commands.
const CORE_GRANTS: &[&str] = &["core:event:allow-listen", "core:event:allow-unlisten"];

#[test]
fn the_capability_grants_exactly_the_command_list() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/capabilities/default.json");
    let text = std::fs::read_to_string(path).expect("capability file readable");
    let capability: serde_json::Value = serde_json::from_str(&text).expect("capability is JSON");
    assert_eq!(capability["windows"], serde_json::json!(["main"]));
    let granted: BTreeSet<String> = capability["permissions"]
        .as_array()
        .expect("a permissions array")
        .iter()
        .map(|p| p.as_str().expect("permissions are names").to_owned())
        .collect();
    let wanted: BTreeSet<String> = pqvoice_desktop::commands::COMMANDS
        .iter()
        .map(|c| format!("allow-{}", c.replace('_', "-")))
        .chain(CORE_GRANTS.iter().map(|g| (*g).to_owned()))
        .collect();
    assert_eq!(granted, wanted);
}

#[test]
fn the_command_list_has_no_duplicates() {
    let names = pqvoice_desktop::commands::COMMANDS;
    let unique: BTreeSet<&str> = names.iter().copied().collect();
    assert_eq!(unique.len(), names.len());
    assert!(names.contains(&"app_info") && names.contains(&"host_registry_status"));
}
