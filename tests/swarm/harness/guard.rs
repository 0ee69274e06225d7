//! [`SwarmGuard`]: one test's exclusive use of the engine's Swarm, and leaving the engine as
//! it was found.
//!
//! The Swarm is engine-wide, so a guard first takes an exclusive `flock` on [`LOCK_PATH`]
//! (blocking while another test, or someone's `flock /tmp/berth-swarm.lock ...`, has it). If
//! the engine is in no swarm it runs `docker swarm init --advertise-addr 127.0.0.1`; if it is
//! already a manager it uses that swarm and will not leave it (unless a test created it and
//! was killed before leaving: [`OWNER_PATH`] names such a swarm). Dropping the guard — also while
//! a failed test unwinds — removes the run's services and stacks, waits until their containers
//! are gone, removes the run's networks, configs, containers and images, then leaves the swarm
//! if it joined one (removing `docker_gwbridge` too when the init created it), and only then
//! releases the lock. Drop never panics: a step that fails is skipped.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::docker_common::{docker, docker_ok, require_engine, Cleanup, RunId};

/// The lock every user of the engine's Swarm holds while it has one.
pub const LOCK_PATH: &str = "/tmp/berth-swarm.lock";

/// Holds the node id of a swarm a guard created, until it leaves it: a guard that finds the
/// engine in that swarm knows a test left it (its process was killed), and leaves it too.
const OWNER_PATH: &str = "/tmp/berth-swarm.owner";

/// The bridge Swarm creates for its overlays' outside traffic; `swarm leave` keeps it.
const GWBRIDGE: &str = "docker_gwbridge";

/// Longest wait for removed services' containers to be gone.
const REMOVAL: Duration = Duration::from_secs(60);

/// See the module doc. Declare it first in a test, so it is dropped after every handle.
#[must_use = "the guard holds the swarm and cleans up when dropped"]
pub struct SwarmGuard {
    run: RunId,
    /// This guard ran `swarm init`, so it leaves.
    joined: bool,
    /// `docker_gwbridge` existed before the init.
    gwbridge_before: bool,
    /// Stacks deployed by the run.
    stacks: Mutex<Vec<String>>,
    /// Files the run writes (compose files); removed on drop.
    dir: PathBuf,
    cleanup: Option<Cleanup>,
    /// Dropped last, after `drop` has removed everything: the lock is held until then.
    _lock: SwarmLock,
}

/// The exclusive lock on [`LOCK_PATH`], held until dropped (with every [`SwarmLock::share`]
/// of it).
pub struct SwarmLock(File);

impl SwarmLock {
    /// Opens [`LOCK_PATH`] and locks it exclusively, waiting at most 15 minutes.
    pub fn take() -> SwarmLock {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(LOCK_PATH)
            .or_else(|_| File::open(LOCK_PATH))
            .unwrap_or_else(|e| panic!("open {LOCK_PATH}: {e}"));
        if !flock(&file, &["--nonblock"]) {
            eprintln!(
                "swarm guard: waiting for {LOCK_PATH} (another swarm test or experiment has it)"
            );
            assert!(
                flock(&file, &["--wait", "900"]),
                "{LOCK_PATH} stayed locked for 15 minutes"
            );
        }
        SwarmLock(file)
    }

    /// The same lock (a duplicate descriptor of the locked file): it stays held until this
    /// and the original are both dropped.
    pub fn share(&self) -> SwarmLock {
        SwarmLock(self.0.try_clone().expect("duplicate the lock's descriptor"))
    }
}

impl SwarmGuard {
    /// Locks the swarm and makes sure the engine is a manager of one. `None` when there is
    /// no engine and `BERTH_SKIP_DOCKER=1` (see [`require_engine`]).
    pub fn acquire() -> Option<SwarmGuard> {
        if !require_engine() {
            return None;
        }
        Some(Self::acquire_with(SwarmLock::take()))
    }

    /// [`SwarmGuard::acquire`] under a lock the caller has taken (and may keep after the
    /// guard is dropped, to look at what it left).
    pub fn acquire_with(lock: SwarmLock) -> SwarmGuard {
        let run = RunId::new();
        let cleanup = run.cleanup();
        let gwbridge_before = docker(&["network", "inspect", GWBRIDGE]).is_ok();
        let joined = join();
        let dir = std::env::temp_dir().join(run.name("swarm"));
        std::fs::create_dir_all(&dir).expect("create the run's directory");
        SwarmGuard {
            run,
            joined,
            gwbridge_before,
            stacks: Mutex::new(Vec::new()),
            dir,
            cleanup: Some(cleanup),
            _lock: lock,
        }
    }

    pub fn run(&self) -> &RunId {
        &self.run
    }

    /// A directory for the run's files, removed on drop.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// An attachable overlay network `<run id>-<suffix>`, labelled with the run (removed on
    /// drop); its name.
    pub fn overlay(&self, suffix: &str) -> String {
        let name = self.run.name(suffix);
        docker_ok(&[
            "network",
            "create",
            "--driver",
            "overlay",
            "--attachable",
            "--label",
            &self.run.label(),
            &name,
        ]);
        name
    }

    /// Notes a stack of the run, removed on drop (call before deploying it).
    pub fn register_stack(&self, name: &str) {
        lock_list(&self.stacks).push(name.to_owned());
    }

    /// Ids of the run's services: labelled with the run, or in one of its stacks.
    fn services(&self) -> Vec<String> {
        let mut filters = vec![format!("label={}", self.run.label())];
        for stack in lock_list(&self.stacks).iter() {
            filters.push(format!("label=com.docker.stack.namespace={stack}"));
        }
        let mut ids: Vec<String> = filters
            .iter()
            .flat_map(|f| lines(docker(&["service", "ls", "-q", "--filter", f])))
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// Removes the run's services and waits until their containers are gone.
    fn remove_services(&self) {
        let ids = self.services();
        if ids.is_empty() {
            return;
        }
        let mut args = vec!["service", "rm"];
        args.extend(ids.iter().map(String::as_str));
        let _ = docker(&args);
        let deadline = Instant::now() + REMOVAL;
        while Instant::now() < deadline && !task_containers(&ids).is_empty() {
            // The poll interval of a wait bounded by REMOVAL.
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Removes the stacks (their networks and configs) and the run's networks.
    fn remove_networks(&self) {
        for stack in lock_list(&self.stacks).iter() {
            let _ = docker(&["stack", "rm", stack]);
        }
        let filter = format!("label={}", self.run.label());
        for network in lines(docker(&["network", "ls", "-q", "--filter", &filter])) {
            let _ = docker(&["network", "rm", &network]);
        }
    }

    fn leave(&self) {
        if !self.joined {
            return;
        }
        match docker(&["swarm", "leave", "--force"]) {
            Ok(_) => {
                let _ = std::fs::remove_file(OWNER_PATH);
            }
            Err(e) => eprintln!("swarm guard: {e}"),
        }
        if !self.gwbridge_before {
            let _ = docker(&["network", "rm", GWBRIDGE]);
        }
    }
}

impl Drop for SwarmGuard {
    fn drop(&mut self) {
        self.remove_services();
        self.remove_networks();
        // Containers, networks and images still labelled with the run.
        drop(self.cleanup.take());
        self.leave();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `flock --exclusive ARGS 0` with `file` as its standard input. The lock belongs to the
/// open file description the child shares with `file`, so it outlives the child and is
/// held until `file` is closed (`flock(1)` from util-linux; no `unsafe` or extra crate).
fn flock(file: &File, args: &[&str]) -> bool {
    let stdin = file
        .try_clone()
        .expect("duplicate the lock file's descriptor");
    Command::new("flock")
        .arg("--exclusive")
        .args(args)
        .arg("0")
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .status()
        .expect("run flock(1) (util-linux) to lock the swarm")
        .success()
}

/// Makes sure the engine manages a swarm; true when this guard is to leave it: it created
/// it, or a test that never got to leave did (a killed test process; [`OWNER_PATH`] says).
fn join() -> bool {
    let state = docker_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"]);
    match state.as_str() {
        "inactive" => {
            docker_ok(&["swarm", "init", "--advertise-addr", "127.0.0.1"]);
            let node = docker_ok(&["info", "--format", "{{.Swarm.NodeID}}"]);
            let _ = std::fs::write(OWNER_PATH, node);
            true
        }
        "active" => {
            let manager = docker_ok(&["info", "--format", "{{.Swarm.ControlAvailable}}"]);
            assert_eq!(
                manager, "true",
                "the engine is a swarm worker; the swarm tests need a manager (or no swarm)"
            );
            let abandoned = abandoned();
            if abandoned {
                eprintln!("swarm guard: the swarm was left by a test that was killed; leaving it");
            }
            abandoned
        }
        other => {
            panic!("the engine's swarm is {other:?}; the swarm tests need it active or inactive")
        }
    }
}

/// True when the engine is in a swarm a test created and never left ([`OWNER_PATH`]).
fn abandoned() -> bool {
    let node = docker(&["info", "--format", "{{.Swarm.NodeID}}"]).unwrap_or_default();
    let owner = std::fs::read_to_string(OWNER_PATH).unwrap_or_default();
    !node.is_empty() && owner.trim() == node
}

/// Leaves the swarm if a test created it and was killed before leaving it (call under the
/// lock): the engine goes back to the state that test found.
pub fn leave_abandoned() {
    if abandoned() && docker(&["swarm", "leave", "--force"]).is_ok() {
        let _ = std::fs::remove_file(OWNER_PATH);
    }
}

/// Containers of the services `ids` still on this engine.
fn task_containers(ids: &[String]) -> Vec<String> {
    let format = "{{.Label \"com.docker.swarm.service.id\"}}";
    lines(docker(&["ps", "-a", "--format", format]))
        .into_iter()
        .filter(|service| ids.contains(service))
        .collect()
}

/// The non-empty lines of a `docker` answer; none for an error.
fn lines(answer: Result<String, String>) -> Vec<String> {
    answer
        .map(|out| {
            out.lines()
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn lock_list(list: &Mutex<Vec<String>>) -> std::sync::MutexGuard<'_, Vec<String>> {
    // A poisoned lock only means a panic elsewhere mid-push; the list is still usable.
    list.lock().unwrap_or_else(|p| p.into_inner())
}
