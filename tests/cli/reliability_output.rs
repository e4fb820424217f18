//! How polsim writes its outputs and handles the process: `-o` on what is not
//! a regular file, file modes, signals during `-o`, failed writes to standard
//! output, and the `--threads` cap.
//!
//! Device nodes and FIFOs are made by each test in its own directory
//! (`mknod`, `mkfifo`; the suite runs as root); no system path is written.

use super::*;
use std::io::{Read, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const POLICY: &str = "policies/jd_plus.yaml";

fn policy() -> String {
    repo_file(POLICY).to_string_lossy().into_owned()
}

/// `polsim ARGS...` as a plain process in `wd`, for control over its streams.
fn raw(wd: &Workdir, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_polsim"));
    cmd.current_dir(wd.dir.path())
        .args(args)
        .env("POLSIM_CACHE_DIR", "off");
    cmd
}

/// Makes a node in `wd` with `mknod NAME c MAJOR MINOR` (or `mkfifo NAME`).
fn make_node(wd: &Workdir, args: &[&str]) -> PathBuf {
    let (tool, rest) = args.split_first().expect("a tool");
    let status = std::process::Command::new(tool)
        .current_dir(wd.dir.path())
        .args(rest)
        .status()
        .expect("run mknod/mkfifo");
    assert!(status.success(), "{args:?} failed");
    wd.path(rest[0])
}

fn temporary_files(wd: &Workdir) -> Vec<String> {
    wd.files()
        .into_iter()
        .filter(|f| f.starts_with(".polsim-"))
        .collect()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o7777
}

// ---------------------------------------------------------------------------
// `-o` on devices, FIFOs, symbolic links; file modes
// ---------------------------------------------------------------------------

#[test]
fn o_to_a_null_device_leaves_it_a_character_device() {
    let wd = with_data(50);
    let null = make_node(&wd, &["mknod", "null", "c", "1", "3"]);
    let p = policy();
    for args in [
        vec!["gen", "--rows", "10", "-o", "null"],
        vec!["decide", p.as_str(), "--data", "d.csv", "-o", "null"],
    ] {
        wd.stdout(&args);
        let kind = std::fs::symlink_metadata(&null)
            .expect("stat null")
            .file_type();
        assert!(
            kind.is_char_device(),
            "polsim {args:?} replaced the device node: {kind:?}"
        );
        assert!(temporary_files(&wd).is_empty(), "{:?}", wd.files());
    }
}

#[test]
fn o_to_a_fifo_is_written_through_to_its_reader() {
    let wd = with_data(50);
    let fifo = make_node(&wd, &["mkfifo", "pipe"]);
    let p = policy();
    let want = wd.stdout(&["decide", &p, "--data", "d.csv"]);

    let (tx, rx) = mpsc::channel();
    let reader_path = fifo.clone();
    std::thread::spawn(move || {
        let mut text = String::new();
        let got = std::fs::File::open(&reader_path).and_then(|mut f| f.read_to_string(&mut text));
        let _ = tx.send(got.map(|_| text));
    });
    let mut child = raw(&wd, &["decide", &p, "--data", "d.csv", "-o", "pipe"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run polsim");
    let read = rx.recv_timeout(Duration::from_secs(30));
    let status = wait_at_most(&mut child, Duration::from_secs(30), "decide -o FIFO");
    let read = match read {
        Ok(r) => r.expect("read the FIFO"),
        Err(_) => {
            // Unblock the reader if it still waits on the FIFO, then fail.
            let _ = std::fs::OpenOptions::new().write(true).open(&fifo);
            panic!("the FIFO's reader got nothing within 30 s (was the FIFO replaced?)");
        }
    };
    assert!(status.success(), "decide -o FIFO: {status:?}");
    assert_eq!(read, want, "the reader gets the decisions");
    let kind = std::fs::symlink_metadata(&fifo).expect("stat").file_type();
    assert!(kind.is_fifo(), "the FIFO was replaced: {kind:?}");
    assert!(temporary_files(&wd).is_empty(), "{:?}", wd.files());
}

#[test]
fn o_through_a_symlink_chain_replaces_the_file_at_its_end() {
    let wd = with_data(50);
    let p = policy();
    let want = wd.stdout(&["decide", &p, "--data", "d.csv"]);
    std::fs::create_dir(wd.path("sub")).unwrap();
    wd.write("real.csv", "old contents\n");
    // sub/link -> ../middle -> real.csv, both relative to their own directory.
    std::os::unix::fs::symlink("real.csv", wd.path("middle")).unwrap();
    std::os::unix::fs::symlink("../middle", wd.path("sub/link")).unwrap();
    for out in ["middle", "sub/link"] {
        wd.write("real.csv", "old contents\n");
        wd.stdout(&["decide", &p, "--data", "d.csv", "-o", out]);
        assert_eq!(
            wd.read("real.csv"),
            want,
            "-o {out} writes the link's target"
        );
        for link in ["middle", "sub/link"] {
            let meta = std::fs::symlink_metadata(wd.path(link)).unwrap();
            assert!(
                meta.file_type().is_symlink(),
                "-o {out} replaced the link {link}"
            );
        }
        assert_eq!(
            std::fs::read_link(wd.path("sub/link")).unwrap(),
            Path::new("../middle")
        );
    }
    assert!(temporary_files(&wd).is_empty(), "{:?}", wd.files());
}

#[test]
fn o_through_a_dangling_symlink_creates_the_file_it_names() {
    let wd = Workdir::new();
    std::os::unix::fs::symlink("made.csv", wd.path("link")).unwrap();
    wd.stdout(&["gen", "--rows", "5", "-o", "link"]);
    let meta = std::fs::symlink_metadata(wd.path("link")).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    assert_eq!(wd.read("made.csv").lines().count(), 6);
    assert_eq!(wd.files(), ["link", "made.csv"]);
}

#[test]
fn o_to_a_directory_or_a_symlink_to_one_is_refused() {
    let wd = with_data(50);
    let p = policy();
    std::fs::create_dir(wd.path("out")).unwrap();
    std::os::unix::fs::symlink("out", wd.path("link")).unwrap();
    let err = wd.fails(&["decide", &p, "--data", "d.csv", "-o", "link"], 2);
    assert_contains(
        &err,
        &[
            "error: cannot write to `link`: it is a symbolic link to the directory `out`",
            "help: name a file to write",
        ],
    );
    let meta = std::fs::symlink_metadata(wd.path("link")).unwrap();
    assert!(meta.file_type().is_symlink(), "the link was replaced");
    let err = wd.fails(&["gen", "--rows", "5", "-o", "out"], 2);
    assert_contains(&err, &["error: cannot write to `out`: it is a directory"]);
    assert_eq!(std::fs::read_dir(wd.path("out")).unwrap().count(), 0);
    assert!(temporary_files(&wd).is_empty(), "{:?}", wd.files());
}

#[test]
fn o_to_a_symlink_loop_is_refused() {
    let wd = Workdir::new();
    std::os::unix::fs::symlink("b", wd.path("a")).unwrap();
    std::os::unix::fs::symlink("a", wd.path("b")).unwrap();
    let err = wd.fails(&["gen", "--rows", "5", "-o", "a"], 2);
    assert_contains(
        &err,
        &[
            "error: cannot write `a`: Too many levels of symbolic links (os error 40)",
            "help: the symbolic links lead round in a loop",
        ],
    );
    for link in ["a", "b"] {
        let meta = std::fs::symlink_metadata(wd.path(link)).unwrap();
        assert!(
            meta.file_type().is_symlink(),
            "the link {link} was replaced"
        );
    }
    assert_eq!(wd.files(), ["a", "b"]);
}

#[test]
fn o_keeps_the_mode_of_an_existing_file() {
    let wd = with_data(50);
    let p = policy();
    for (out, m) in [("private.csv", 0o600), ("shared.csv", 0o664)] {
        wd.write(out, "old\n");
        std::fs::set_permissions(wd.path(out), std::fs::Permissions::from_mode(m)).unwrap();
        wd.stdout(&["decide", &p, "--data", "d.csv", "-o", out]);
        assert_eq!(mode(&wd.path(out)), m, "decide -o {out}");
        wd.stdout(&["gen", "--rows", "5", "-o", out]);
        assert_eq!(mode(&wd.path(out)), m, "gen -o {out}");
    }
}

#[test]
fn o_new_file_honours_the_umask() {
    let wd = with_data(50);
    let p = policy();
    for (umask, want) in [("077", 0o600), ("022", 0o644), ("002", 0o664)] {
        let out = format!("new-{umask}.csv");
        let status = std::process::Command::new("sh")
            .current_dir(wd.dir.path())
            .env("POLSIM_CACHE_DIR", "off")
            .arg("-c")
            .arg(format!(
                "umask {umask} && \"$0\" decide \"$1\" --data d.csv -o {out} && \"$0\" gen --rows 3 -o g{out}"
            ))
            .arg(env!("CARGO_BIN_EXE_polsim"))
            .arg(&p)
            .status()
            .expect("run sh");
        assert!(status.success());
        assert_eq!(mode(&wd.path(&out)), want, "decide -o under umask {umask}");
        assert_eq!(
            mode(&wd.path(&format!("g{out}"))),
            want,
            "gen -o under umask {umask}"
        );
    }
}

// ---------------------------------------------------------------------------
// Signals during `-o`
// ---------------------------------------------------------------------------

/// Starts `decide --data - -o OUT`, feeds it a generated dataset through a
/// pipe that stays open (so the run cannot finish by itself), waits until its
/// temporary file appears, sends `signal`, and returns the exit status.
fn signal_decide(wd: &Workdir, out: &str, signal: &str) -> ExitStatus {
    let p = policy();
    let data = std::fs::read(wd.path("d.csv")).unwrap();
    let mut child = raw(wd, &["decide", &p, "--data", "-", "-o", out, "--quiet"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run polsim");
    let mut stdin = child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
        // Keep the pipe open: the run waits for more rows until the signal.
        stdin
    });
    signal_when_temporary_file_appears(wd, &mut child, signal);
    let status = wait_at_most(&mut child, Duration::from_secs(30), signal);
    drop(feeder.join());
    status
}

fn signal_when_temporary_file_appears(wd: &Workdir, child: &mut Child, signal: &str) {
    let start = Instant::now();
    while temporary_files(wd).is_empty() {
        if start.elapsed() > Duration::from_secs(30) || child.try_wait().unwrap().is_some() {
            let _ = child.kill();
            let _ = child.wait();
            panic!("no temporary file appeared: {:?}", wd.files());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = std::process::Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status()
        .expect("run kill");
    assert!(sent.success());
}

#[test]
fn a_signal_during_decide_o_removes_the_temporary_file() {
    let wd = with_data(20_000);
    for (signal, number) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
        wd.write("out.csv", "the previous run's decisions\n");
        let status = signal_decide(&wd, "out.csv", signal);
        assert_eq!(status.code(), Some(128 + number), "SIG{signal}: {status:?}");
        assert!(
            temporary_files(&wd).is_empty(),
            "SIG{signal} left {:?}",
            wd.files()
        );
        assert_eq!(wd.read("out.csv"), "the previous run's decisions\n");
    }
    // With no output there before, none is left after.
    let status = signal_decide(&wd, "new.csv", "TERM");
    assert_eq!(status.code(), Some(143));
    assert_eq!(wd.files(), ["d.csv", "out.csv"]);
}

#[test]
fn a_signal_during_gen_o_removes_the_temporary_file() {
    let wd = Workdir::new();
    // Far more rows than it can write before the signal.
    let mut child = raw(&wd, &["gen", "--rows", "1000000000", "-o", "big.csv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("run polsim");
    signal_when_temporary_file_appears(&wd, &mut child, "INT");
    let status = wait_at_most(&mut child, Duration::from_secs(30), "gen");
    assert_eq!(status.code(), Some(130), "{status:?}");
    assert_eq!(wd.files(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// Failed writes to standard output
// ---------------------------------------------------------------------------

/// The commands that write to standard output, on `d.csv`.
fn stdout_commands(p: &str) -> Vec<Vec<&str>> {
    vec![
        vec!["check", p, "--data", "d.csv"],
        vec!["decide", p, "--data", "d.csv"],
        vec!["simulate", p, "--data", "d.csv", "--format", "json"],
        vec!["gen", "--rows", "100"],
    ]
}

#[test]
fn stdout_on_a_full_device_is_an_error() {
    let wd = with_data(200);
    let full = make_node(&wd, &["mknod", "full", "c", "1", "7"]);
    let p = policy();
    for args in stdout_commands(&p) {
        let device = std::fs::OpenOptions::new().write(true).open(&full).unwrap();
        let out = raw(&wd, &args).stdout(device).output().expect("run polsim");
        let err = failed(out, &args, 2);
        assert_eq!(
            err, "error: cannot write to standard output: No space left on device (os error 28)\n",
            "polsim {args:?}"
        );
    }
    assert!(
        std::fs::symlink_metadata(&full)
            .unwrap()
            .file_type()
            .is_char_device()
    );
}

#[test]
fn closed_stdout_is_an_error_and_no_file_takes_its_place() {
    let wd = with_data(200);
    let p = policy();
    let closed = |args: &[&str]| {
        std::process::Command::new("sh")
            .current_dir(wd.dir.path())
            .env("POLSIM_CACHE_DIR", "off")
            .arg("-c")
            .arg("exec \"$0\" \"$@\" >&-")
            .arg(env!("CARGO_BIN_EXE_polsim"))
            .args(args)
            .output()
            .expect("run sh")
    };
    for args in stdout_commands(&p) {
        let err = failed(closed(&args), &args, 2);
        assert_eq!(
            err, "error: cannot write to standard output: Bad file descriptor (os error 9)\n",
            "polsim {args:?}"
        );
    }
    // Nothing goes to standard output with `-o`: that works, and the file
    // holds the decisions alone.
    let want = wd.stdout(&["decide", &p, "--data", "d.csv"]);
    let args = ["decide", p.as_str(), "--data", "d.csv", "-o", "out.csv"];
    succeeded(closed(&args), &args);
    assert_eq!(wd.read("out.csv"), want);
}

#[test]
fn closed_pipe_on_stdout_stays_quiet() {
    let wd = Workdir::new();
    let mut child = raw(&wd, &["gen", "--rows", "2000000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run polsim");
    let mut head = [0u8; 100];
    child.stdout.take().unwrap().read_exact(&mut head).unwrap();
    // The read end is closed here, as `| head -c 100` would.
    let status = wait_at_most(&mut child, Duration::from_secs(60), "gen | head");
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(err, "");
}

// ---------------------------------------------------------------------------
// --threads
// ---------------------------------------------------------------------------

#[test]
fn threads_above_the_cap_is_a_usage_error() {
    let wd = with_data(50);
    let p = policy();
    for n in ["18446744073709551615", "100000", "257"] {
        let err = wd.fails(&["decide", &p, "--data", "d.csv", "--threads", n], 2);
        assert_contains(
            &err,
            &[
                &format!("error: invalid value '{n}' for '--threads <N>'"),
                "at most 256 worker threads",
            ],
        );
    }
    let want = wd.stdout(&["decide", &p, "--data", "d.csv"]);
    for n in ["0", "1", "256"] {
        assert_eq!(
            wd.stdout(&["decide", &p, "--data", "d.csv", "--threads", n]),
            want
        );
    }
}
