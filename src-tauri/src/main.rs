//! Entry point of the pqvoice desktop app.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    pqvoice_desktop::run();
}
