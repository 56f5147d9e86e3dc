//! `pqvoice`: the headless command-line client.
//!
//! All state lives in the `--profile` directory: the identity key (0600),
//! the registered username and the pinned contacts. Calls print progress and
//! statistics on stderr, the SAS once the call is established, and end with a
//! non-zero exit and a clear message when they fail.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod netsim_cmd;
mod simulate_cmd;

/// End-to-end encrypted post-quantum voice calls, from the terminal.
#[derive(Debug, Parser)]
#[command(name = "pqvoice", version, about)]
struct Cli {
    /// Directory that holds this device's identity, contacts and history.
    #[arg(long, env = "PQVOICE_PROFILE", default_value = ".pqvoice")]
    profile: PathBuf,
    /// Base URL of the registry (http:// or https://).
    #[arg(
        long,
        env = "PQVOICE_REGISTRY",
        default_value = "http://127.0.0.1:8443"
    )]
    registry: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the profile directory (mode 0700) if it does not exist and print its path.
    InitProfile,
    /// List sound devices.
    Devices,
    /// Seeded UDP impairment relay on loopback (loss, delay, jitter, reordering).
    Netsim(netsim_cmd::NetsimArgs),
    /// Run a WAV file through the media path offline over a seeded lossy network.
    Simulate(simulate_cmd::SimulateArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let profile = || engine::profile::Profile::open(&cli.profile);
    match &cli.command {
        Command::InitProfile => println!("{}", profile()?.dir().display()),
        Command::Devices => {
            let (ins, outs) = engine::audio::list_devices();
            for d in ins {
                println!("input\t{d}");
            }
            for d in outs {
                println!("output\t{d}");
            }
        }
        Command::Netsim(args) => netsim_cmd::run(args)?,
        Command::Simulate(args) => simulate_cmd::run(args)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn profile_flag_is_parsed() {
        let cli = Cli::try_parse_from(["pqvoice", "--profile", "/tmp/x", "init-profile"])
            .expect("valid command line");
        assert_eq!(cli.profile, PathBuf::from("/tmp/x"));
        assert!(Cli::try_parse_from(["pqvoice", "no-such-command"]).is_err());
    }
}
