//! Running a child process under limits: wall time, address space, CPU time, file size and
//! captured output. The child leads its own process group, and the whole group is killed when it
//! exits, times out or prints too much, so a program that forks cannot leave work behind.
//!
//! This is not a security boundary against a determined program (it runs as the reader, with the
//! reader's files); it keeps an honest mistake — an endless loop, a huge allocation, a print in a
//! loop — from hanging the server or the machine.

use anyhow::{Context, Result};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a child may use.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// Killed after this long, with its whole process group.
    pub wall_time: Duration,
    /// `RLIMIT_AS`: allocations beyond it fail.
    pub memory_bytes: Option<u64>,
    /// `RLIMIT_CPU`, in seconds of CPU time.
    pub cpu_seconds: Option<u64>,
    /// `RLIMIT_FSIZE`: the largest file the child may write.
    pub file_bytes: Option<u64>,
    /// Bytes kept of stdout and of stderr each; the child is killed when it prints more.
    pub output_bytes: usize,
}

impl Limits {
    /// Only a wall time and an output cap (for the compiler, whose memory use is its own business).
    pub fn wall(wall_time: Duration, output_bytes: usize) -> Limits {
        Limits { wall_time, memory_bytes: None, cpu_seconds: None, file_bytes: None, output_bytes }
    }
}

/// How the child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    Exited(i32),
    /// Killed by a signal it did not get from us (a crash, an abort on a failed allocation).
    Signal(i32),
    /// We killed it: it ran past the wall time.
    TimedOut,
    /// We killed it: it printed more than the output cap.
    OutputLimit,
}

impl Ending {
    pub fn success(&self) -> bool {
        *self == Ending::Exited(0)
    }

    /// One line for a reader.
    pub fn describe(&self, limits: &Limits) -> String {
        match self {
            Ending::Exited(code) => format!("exit code {code}"),
            Ending::Signal(signal) => format!("killed by signal {signal}{}", os::signal_hint(*signal)),
            Ending::TimedOut => format!("stopped: ran longer than the limit of {} s", limits.wall_time.as_secs_f64()),
            Ending::OutputLimit => {
                format!("stopped: printed more than the limit of {} KiB", limits.output_bytes / 1024)
            }
        }
    }
}

/// What the child did.
#[derive(Debug, Clone)]
pub struct Captured {
    pub ending: Ending,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub elapsed: Duration,
}

/// Runs `command` (stdin closed, stdout and stderr captured) under `limits`.
pub fn run(mut command: Command, limits: &Limits) -> Result<Captured> {
    command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    os::confine(&mut command, limits);
    let started = Instant::now();
    let mut child = command.spawn().with_context(|| format!("starting {:?}", command.get_program()))?;
    let too_much = Arc::new(AtomicBool::new(false));
    let readers = [
        child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .map(|stream| {
        let (cap, too_much) = (limits.output_bytes, Arc::clone(&too_much));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = sender.send(read_capped(stream, cap, &too_much));
        });
        receiver
    });

    let ending = loop {
        if too_much.load(Ordering::SeqCst) {
            break Ending::OutputLimit;
        }
        if let Some(ending) = os::exited(&mut child)? {
            break ending;
        }
        if started.elapsed() > limits.wall_time {
            break Ending::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    // Whatever the child left behind (in its process group, on Unix) goes, then it is reaped.
    os::kill_all(&mut child);
    let status = child.wait().context("waiting for the child")?;
    let elapsed = started.elapsed();
    let ending = match ending {
        Ending::Exited(_) | Ending::Signal(_) => os::ending(status),
        ours => ours,
    };
    // A descendant that escaped may hold the pipes open: give up on it after a moment.
    let [stdout, stderr] = readers.map(|r| r.recv_timeout(Duration::from_secs(2)).unwrap_or_default());
    let ending = if ending.success() && too_much.load(Ordering::SeqCst) { Ending::OutputLimit } else { ending };
    Ok(Captured { ending, stdout, stderr, elapsed })
}

/// Reads `stream` to its end, keeping at most `cap` bytes; past the cap, flags `too_much` (the
/// waiting loop then kills the child) and stops reading.
fn read_capped(stream: Option<Box<dyn Read + Send>>, cap: usize, too_much: &AtomicBool) -> Vec<u8> {
    let Some(mut stream) = stream else {
        return Vec::new();
    };
    let mut kept = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let room = cap.saturating_sub(kept.len());
                kept.extend_from_slice(&buffer[..n.min(room)]);
                if n > room {
                    too_much.store(true, Ordering::SeqCst);
                    break;
                }
            }
        }
    }
    kept
}

/// Unix: a process group per child, resource limits, and the whole group killed.
#[cfg(unix)]
mod os {
    use super::{Ending, Limits};
    use anyhow::Result;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::{Child, Command, ExitStatus};

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    type Resource = libc::__rlimit_resource_t;
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    type Resource = libc::c_int;

    pub fn confine(command: &mut Command, limits: &Limits) {
        let rlimits: Vec<(Resource, libc::rlim_t)> = [
            (libc::RLIMIT_AS, limits.memory_bytes),
            (libc::RLIMIT_CPU, limits.cpu_seconds),
            (libc::RLIMIT_FSIZE, limits.file_bytes),
            (libc::RLIMIT_CORE, Some(0)),
        ]
        .into_iter()
        .filter_map(|(resource, value)| value.map(|v| (resource as Resource, v as libc::rlim_t)))
        .collect();
        command.process_group(0);
        // SAFETY: between fork and exec only async-signal-safe calls are made (setrlimit), on data
        // prepared before the fork.
        unsafe {
            command.pre_exec(move || {
                for &(resource, value) in &rlimits {
                    let limit = libc::rlimit { rlim_cur: value, rlim_max: value };
                    if libc::setrlimit(resource, &limit) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
                Ok(())
            });
        }
    }

    /// `Some` once the child has exited. On Linux the child stays a zombie until `wait`, so its
    /// process-group id cannot be reused before [`kill_all`] has used it.
    #[cfg(target_os = "linux")]
    pub fn exited(child: &mut Child) -> Result<Option<Ending>> {
        // SAFETY: waitid writes into the zeroed siginfo we pass; WNOWAIT leaves the child reapable.
        unsafe {
            let mut info: libc::siginfo_t = std::mem::zeroed();
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            if libc::waitid(libc::P_PID, child.id() as libc::id_t, &mut info, flags) != 0 {
                return Err(anyhow::Error::from(std::io::Error::last_os_error()).context("waitid"));
            }
            Ok((info.si_pid() != 0).then_some(Ending::Exited(0)))
        }
    }

    /// `Some` once the child has exited (and been reaped: a group it left behind keeps its id).
    #[cfg(not(target_os = "linux"))]
    pub fn exited(child: &mut Child) -> Result<Option<Ending>> {
        Ok(child.try_wait()?.map(ending))
    }

    pub fn kill_all(child: &mut Child) {
        // SAFETY: a plain syscall on the child's own group (process_group(0) made it the leader).
        unsafe {
            libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL);
        }
    }

    pub fn ending(status: ExitStatus) -> Ending {
        match (status.code(), status.signal()) {
            (Some(code), _) => Ending::Exited(code),
            (None, Some(signal)) => Ending::Signal(signal),
            (None, None) => Ending::Signal(0),
        }
    }

    pub fn signal_hint(signal: i32) -> &'static str {
        match signal {
            libc::SIGABRT => " (SIGABRT: an abort, e.g. a failed memory allocation)",
            libc::SIGSEGV => " (SIGSEGV: a crash, e.g. a stack overflow)",
            libc::SIGXCPU => " (SIGXCPU: the CPU-time limit)",
            libc::SIGXFSZ => " (SIGXFSZ: the file-size limit)",
            libc::SIGKILL => " (SIGKILL)",
            _ => "",
        }
    }
}

/// Elsewhere: the wall-time and output limits only, and only the child itself is killed.
#[cfg(not(unix))]
mod os {
    use super::{Ending, Limits};
    use anyhow::Result;
    use std::process::{Child, Command, ExitStatus};

    pub fn confine(_: &mut Command, _: &Limits) {}

    pub fn exited(child: &mut Child) -> Result<Option<Ending>> {
        Ok(child.try_wait()?.map(ending))
    }

    pub fn kill_all(child: &mut Child) {
        let _ = child.kill();
    }

    pub fn ending(status: ExitStatus) -> Ending {
        Ending::Exited(status.code().unwrap_or(-1))
    }

    pub fn signal_hint(_: i32) -> &'static str {
        ""
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.arg("-c").arg(script);
        command
    }

    fn alive(pid: i32) -> bool {
        // A zombie still has a /proc entry; its state is Z.
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| stat.rsplit(')').next().is_some_and(|rest| !rest.trim_start().starts_with('Z')))
    }

    #[test]
    fn captures_output_and_exit_codes() {
        let out = run(sh("echo out; echo err >&2; exit 3"), &Limits::wall(Duration::from_secs(10), 1024)).unwrap();
        assert_eq!((out.ending, out.stdout, out.stderr), (Ending::Exited(3), b"out\n".to_vec(), b"err\n".to_vec()));
    }

    #[test]
    fn a_timeout_kills_the_whole_process_tree() {
        // The shell starts a grandchild in the background, prints its pid and waits.
        let limits = Limits::wall(Duration::from_millis(500), 1024);
        let started = Instant::now();
        let out = run(sh("sleep 30 & echo $!; wait"), &limits).unwrap();
        assert_eq!(out.ending, Ending::TimedOut);
        assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
        let grandchild: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!alive(grandchild), "the background sleep {grandchild} survived");
        assert!(out.ending.describe(&limits).contains("longer than the limit of 0.5 s"));
    }

    #[test]
    fn leftovers_are_killed_when_the_leader_exits() {
        let out = run(sh("sleep 30 >/dev/null 2>&1 & echo $!"), &Limits::wall(Duration::from_secs(10), 1024)).unwrap();
        assert_eq!(out.ending, Ending::Exited(0));
        let grandchild: i32 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(!alive(grandchild), "the background sleep {grandchild} survived its parent");
    }

    #[test]
    fn endless_output_is_cut_and_the_child_stopped() {
        let started = Instant::now();
        let out = run(sh("yes"), &Limits::wall(Duration::from_secs(20), 4096)).unwrap();
        assert_eq!(out.ending, Ending::OutputLimit);
        assert_eq!(out.stdout.len(), 4096);
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_memory_limit_makes_allocations_fail() {
        // 64 MiB of address space is too little for `head` to buffer 256 MiB in a shell variable.
        let limits = Limits { memory_bytes: Some(64 << 20), ..Limits::wall(Duration::from_secs(20), 4096) };
        let script = "x=$(head -c 268435456 /dev/zero | tr '\\0' a); echo ${#x}";
        let out = run(sh(script), &limits).unwrap();
        assert_ne!(String::from_utf8_lossy(&out.stdout).trim(), "268435456", "{out:?}");
        // Without the limit the same script succeeds.
        let out = run(sh(script), &Limits::wall(Duration::from_secs(20), 4096)).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "268435456");
    }

    #[test]
    fn the_file_size_limit_stops_large_writes() {
        let dir = tempfile::tempdir().unwrap();
        let mut command = sh("head -c 1000000 /dev/zero > big; echo $?");
        command.current_dir(dir.path());
        let limits = Limits { file_bytes: Some(1000), ..Limits::wall(Duration::from_secs(10), 4096) };
        let _ = run(command, &limits).unwrap();
        assert!(std::fs::metadata(dir.path().join("big")).unwrap().len() <= 1000);
    }
}
