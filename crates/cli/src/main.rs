//! `pqvoice`: the headless command-line client.
//!
//! All state lives in the `--profile` directory. Subcommands are added as the
//! engine grows; `pqvoice --help` lists what exists today.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// End-to-end encrypted post-quantum voice calls, from the terminal.
#[derive(Debug, Parser)]
#[command(name = "pqvoice", version, about)]
struct Cli {
    /// Directory that holds this device's identity, contacts and history.
    #[arg(long, env = "PQVOICE_PROFILE", default_value = ".pqvoice")]
    profile: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create the profile directory (mode 0700) if it does not exist and print its path.
    InitProfile,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::InitProfile => {
            let profile = engine::profile::Profile::open(&cli.profile)?;
            println!("{}", profile.dir().display());
        }
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
