//! `pqvoice export` and `pqvoice import` use the app's backup format: a
//! backup written by the app restores in the CLI, and one written by the
//! CLI opens the way the app opens its own.
//!
//! `fixtures/app-backup-v1.pqvbackup` is a version-1 backup of the identity
//! with seed `[42; 32]` (username alice, passphrase "fixture passphrase
//! 42"), sealed with the earlier KDF cost (19 MiB, t = 2) as the app wrote
//! them before the format moved into the engine; it must keep opening.

use std::path::Path;
use std::process::{Command, Output};

use engine::account::{self, AccountInfo};
use engine::backup::{self, KdfParams};
use engine::profile::Profile;
use proto::identity::IdentityKeyPair;

const PASSPHRASE: &str = "fixture passphrase 42";

fn pqvoice(profile: &Path, passphrase: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pqvoice"))
        .arg("--profile")
        .arg(profile)
        .args(args)
        .env("PQVOICE_BACKUP_PASSPHRASE", passphrase)
        .output()
        .expect("the pqvoice binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "command failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn failed(out: &Output) -> String {
    assert!(!out.status.success(), "command succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/app-backup-v1.pqvbackup")
}

#[test]
fn an_app_backup_restores_in_the_cli() {
    let dir = tempfile::tempdir().expect("tmp");
    let target = dir.path().join("restored");
    let file = fixture();
    let file = file.to_str().expect("utf-8 path");

    // A wrong passphrase restores nothing.
    let err = failed(&pqvoice(&target, "not the passphrase", &["import", file]));
    assert!(err.contains("could not be opened"), "{err}");
    let p = Profile::open(&target).expect("profile");
    assert!(account::account(&p).expect("account").is_none());
    assert!(matches!(
        account::load_identity(&p),
        Err(account::AccountError::NoIdentity)
    ));

    let out = ok(&pqvoice(&target, PASSPHRASE, &["import", file]));
    assert!(out.contains("alice"), "{out}");
    let expected = IdentityKeyPair::from_seed(&[42; 32]);
    assert_eq!(
        account::load_identity(&p).expect("identity").public(),
        expected.public()
    );
    let info = account::require_account(&p).expect("account");
    assert_eq!(
        (info.username.as_str(), info.registry.as_str()),
        ("alice", "http://127.0.0.1:5001")
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(target.join("identity.key"))
            .expect("stat")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    // Never over an identity the profile already has.
    let err = failed(&pqvoice(&target, PASSPHRASE, &["import", file]));
    assert!(err.contains("already has an identity"), "{err}");
}

#[test]
fn a_cli_backup_opens_as_the_app_opens_it_and_restores_elsewhere() {
    let dir = tempfile::tempdir().expect("tmp");
    let source = dir.path().join("source");
    let p = Profile::open(&source).expect("profile");
    let (identity, _) = account::load_or_create_identity(&p).expect("identity");
    account::set_account(
        &p,
        &AccountInfo {
            username: "bob".into(),
            registry: "https://registry.example".into(),
            ..AccountInfo::default()
        },
    )
    .expect("account");
    let file = dir.path().join("bob.pqvbackup");
    let file_s = file.to_str().expect("utf-8 path");

    let err = failed(&pqvoice(&source, "short", &["export", file_s]));
    assert!(err.contains("at least 10 characters"), "{err}");
    assert!(!file.exists());

    ok(&pqvoice(&source, PASSPHRASE, &["export", file_s]));
    let bytes = std::fs::read(&file).expect("backup written");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(backup::kdf_params(&bytes), Some(KdfParams::NEW));
    // What the app's `backup::open` does with a file: the engine's open.
    let opened = backup::open(&bytes, PASSPHRASE).expect("opens");
    assert_eq!(opened.username, "bob");
    assert_eq!(&opened.identity[..], &identity.to_bytes()[..]);

    // Never over an existing file.
    let err = failed(&pqvoice(&source, PASSPHRASE, &["export", file_s]));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&file).expect("read"), bytes);

    let target = dir.path().join("target");
    ok(&pqvoice(&target, PASSPHRASE, &["import", file_s]));
    let restored = Profile::open(&target).expect("profile");
    assert_eq!(
        account::load_identity(&restored)
            .expect("identity")
            .public(),
        identity.public()
    );
}
