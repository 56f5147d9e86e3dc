//! `pqvoice`: the headless command-line client.
//!
//! All state lives in the `--profile` directory: the identity key (0600),
//! the registered username and the contact book (pins and trust). Calls print progress and
//! statistics on stderr, the SAS once the call is established, and end with a
//! non-zero exit and a clear message when they fail.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

mod backup_cmd;
mod calls;
mod netsim_cmd;
mod registry_flags;
mod simulate_cmd;

/// End-to-end encrypted post-quantum voice calls, from the terminal.
#[derive(Debug, Parser)]
#[command(name = "pqvoice", version, about)]
struct Cli {
    /// Directory that holds this device's identity, contacts and history.
    #[arg(long, env = "PQVOICE_PROFILE", default_value = ".pqvoice")]
    profile: PathBuf,
    /// Base URL of the registry (http:// or https://). `register` remembers
    /// it in the profile; later commands use the remembered one unless this
    /// is given. Default for `register`: http://127.0.0.1:5001.
    #[arg(long, env = "PQVOICE_REGISTRY")]
    registry: Option<String>,
    /// SHA-256 fingerprint of the registry's certificate (64 hex digits,
    /// spaces or colons allowed), as the app hosting it shows it: only that
    /// certificate is accepted. `register` remembers it with the registry.
    #[arg(long, env = "PQVOICE_REGISTRY_FINGERPRINT", value_name = "HEX")]
    registry_fingerprint: Option<String>,
    /// Allow plain http:// to a registry that is not on this computer
    /// (anyone on the network between can read the sign-in token).
    #[arg(
        long,
        env = "PQVOICE_ALLOW_INSECURE_HTTP",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    allow_insecure_http: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create an identity and claim NAME at the registry.
    Register {
        /// The username (3-32 of a-z 0-9 _ . -).
        name: String,
    },
    /// Ring NAME and talk (sound card, or WAV files with --input/--output).
    Call {
        /// Whom to call.
        name: String,
        #[command(flatten)]
        media: calls::MediaArgs,
    },
    /// Wait for one incoming call and take it.
    Answer {
        #[command(flatten)]
        media: calls::MediaArgs,
    },
    /// Answer every call and send back what is heard (for latency and device tests).
    EchoBot {
        #[command(flatten)]
        media: calls::MediaArgs,
    },
    /// List contacts with presence, safety number and trust.
    Contacts,
    /// Show the safety number shared with NAME, for the pinned key and for
    /// the key the registry serves (both, labelled, when they differ).
    /// Pins nothing.
    SafetyNumber {
        /// The contact.
        name: String,
    },
    /// Mark NAME's key verified after comparing it with them (pinning it
    /// first, or accepting it in place of a changed one). The key the
    /// registry serves is taken only if it is the one compared: give the
    /// safety number or the fingerprint you compared.
    Trust {
        /// The contact.
        name: String,
        #[command(flatten)]
        compared: calls::ComparedArgs,
    },
    /// List past calls.
    History,
    /// Write an encrypted backup of this profile's identity and account to
    /// FILE (never over an existing file). Passphrase: asked for, or
    /// PQVOICE_BACKUP_PASSPHRASE.
    Export {
        /// The backup file to create.
        file: PathBuf,
    },
    /// Restore an identity backup (from `export` or the app) into a
    /// profile that has no identity yet. Passphrase: asked for, or
    /// PQVOICE_BACKUP_PASSPHRASE.
    Import {
        /// The backup file.
        file: PathBuf,
    },
    /// Create the profile directory (mode 0700) if it does not exist and print its path.
    InitProfile,
    /// List sound devices.
    Devices,
    /// Seeded UDP impairment relay on loopback (loss, delay, jitter, reordering).
    Netsim(netsim_cmd::NetsimArgs),
    /// Run a WAV file through the media path offline over a seeded lossy network.
    Simulate(simulate_cmd::SimulateArgs),
}

/// The registry `scripts/run` starts.
const DEFAULT_REGISTRY: &str = "http://127.0.0.1:5001";

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // One readable line with the chain of causes; no stack trace
            // (RUST_BACKTRACE is for our bugs, not for a refused call).
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> anyhow::Result<()> {
    let profile = || engine::profile::Profile::open(&cli.profile);
    let fingerprint = cli
        .registry_fingerprint
        .as_deref()
        .map(engine::registry_tls::CertFingerprint::parse)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--registry-fingerprint: {e}"))?;
    registry_flags::set(registry_flags::RegistryFlags {
        fingerprint,
        allow_insecure_http: cli.allow_insecure_http,
    });
    let registry = cli.registry.as_deref();
    match &cli.command {
        Command::Register { name } => calls::register(
            cli.registry.as_deref().unwrap_or(DEFAULT_REGISTRY),
            &profile()?,
            name,
        )?,
        Command::Call { name, media } => calls::call(registry, &profile()?, name, media)?,
        Command::Answer { media } => calls::answer(registry, &profile()?, media)?,
        Command::EchoBot { media } => calls::echo_bot(registry, &profile()?, media)?,
        Command::Contacts => calls::contacts(registry, &profile()?)?,
        Command::SafetyNumber { name } => calls::show_safety_number(registry, &profile()?, name)?,
        Command::Trust { name, compared } => calls::trust(registry, &profile()?, name, compared)?,
        Command::History => calls::history(&profile()?)?,
        Command::Export { file } => backup_cmd::export(&profile()?, file)?,
        Command::Import { file } => backup_cmd::import(&profile()?, file)?,
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

    #[test]
    fn trust_needs_what_was_compared() {
        assert!(Cli::try_parse_from(["pqvoice", "trust", "bob"]).is_err());
        assert!(Cli::try_parse_from(["pqvoice", "trust", "bob", "--safety-number", "1"]).is_ok());
        assert!(Cli::try_parse_from(["pqvoice", "trust", "bob", "--fingerprint", "ab"]).is_ok());
        assert!(
            Cli::try_parse_from([
                "pqvoice",
                "trust",
                "bob",
                "--fingerprint",
                "ab",
                "--safety-number",
                "1"
            ])
            .is_err()
        );
    }
}
