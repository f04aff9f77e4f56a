//! The shell around the commands: zkCli's `ZooKeeperMain` bookkeeping ([`Shell`]: the numbered
//! history that `history` lists and `redo` replays, the `printwatches` switch, the command count
//! in the prompt) and the interactive loop that reads lines and prints watch events.

use std::io::{BufRead, IsTerminal, Write};

use futures::stream::{SelectAll, StreamExt};
use paddock_client::{Client, EventType, SessionState, WatchedEvent, Zxid};
use tokio::sync::broadcast::error::RecvError;

use crate::exec::{exec, Events, Outcome};
use crate::format;
use crate::parse::{self, Command};

/// How many commands before the current one `history` lists (zkCli: `commandCount - 10`).
const HISTORY_SHOWN: usize = 10;

/// The shell's own state, as zkCli keeps it.
#[derive(Debug)]
pub struct Shell {
    /// Every counted line as typed, indexed by its command number (a `redo` is stored as the
    /// line it replayed, so a redo can itself be redone). Unbounded like zkCli's: it grows by
    /// one line per command a person types.
    history: Vec<String>,
    /// The number of the command being run (zkCli's `commandCount`): the prompt shows it, and
    /// `redo` only takes earlier numbers.
    count: usize,
    /// Whether watch and session events are printed (`printwatches`; zkCli starts with on).
    print_watches: bool,
}

impl Shell {
    /// A shell for one command given on the command line: `line` is command 0 (so `history`
    /// lists just it and `redo` has nothing to replay).
    pub fn one_shot(line: &str) -> Shell {
        Shell {
            history: vec![line.to_string()],
            count: 0,
            print_watches: true,
        }
    }

    fn interactive() -> Shell {
        Shell {
            history: Vec::new(),
            count: 0,
            print_watches: true,
        }
    }

    pub fn print_watches(&self) -> bool {
        self.print_watches
    }

    pub fn set_print_watches(&mut self, on: bool) {
        self.print_watches = on;
    }

    /// `history`: the current command and the ten before it, `N - line` each.
    pub fn history_text(&self) -> String {
        let first = self.count.saturating_sub(HISTORY_SHOWN);
        let mut s = String::new();
        for (i, line) in self
            .history
            .iter()
            .enumerate()
            .take(self.count + 1)
            .skip(first)
        {
            s.push_str(&format!("{i} - {line}\n"));
        }
        s
    }

    /// `redo cmdno`: the command to run again, with zkCli's errors for a number that is not an
    /// earlier command's and for a redo of a `redo` (one that failed; a successful one is stored
    /// as the line it replayed). The current command's history line becomes the replayed one.
    pub fn redo(&mut self, cmdno: i32) -> Result<Command, String> {
        let line = usize::try_from(cmdno)
            .ok()
            .filter(|&i| i < self.count)
            .and_then(|i| self.history.get(i))
            .ok_or("Command index out of range")?
            .clone();
        let words = parse::split_words(&line);
        if words.first().is_some_and(|w| w == "redo") {
            return Err("No redoing redos".to_string());
        }
        if let Some(current) = self.history.get_mut(self.count) {
            current.clone_from(&line);
        }
        parse::parse_words(&words).map_err(|e| e.to_string())
    }

    /// Runs one line typed at the shell: an empty line is no command (`None`); any other is
    /// numbered and kept in the history, even when it does not parse, as zkCli does.
    pub async fn run_line(
        &mut self,
        client: &Client,
        line: &str,
        out: &mut String,
        watches: &mut Vec<Events>,
    ) -> Option<Result<Outcome, String>> {
        let parsed = parse::parse_line(line).transpose()?;
        // Line `count` of the history is this one (the vector holds one line per number).
        self.history.truncate(self.count);
        self.history.push(line.to_string());
        let r = match parsed {
            Ok(cmd) => exec(client, self, cmd, out, watches).await,
            Err(e) => Err(e.to_string()),
        };
        self.count += 1;
        Some(r)
    }
}

/// zkCli's prompt: `[zk: host(STATE) N] `, N the number the next command will get.
fn prompt(server: &str, client: &Client, count: usize) -> String {
    let state = match client.state() {
        SessionState::Connected => "CONNECTED",
        // Java's `ZooKeeper.States.CONNECTEDREADONLY`.
        SessionState::ConnectedReadOnly => "CONNECTEDREADONLY",
        SessionState::Disconnected => "CONNECTING",
        SessionState::Expired | SessionState::Closed => "CLOSED",
        // Java's `ZooKeeper.States.AUTH_FAILED`: a refused addauth ended the session.
        SessionState::AuthFailed => "AUTH_FAILED",
    };
    format!("[zk: {server}({state}) {count}] ")
}

fn session_event(state: SessionState) -> WatchedEvent {
    WatchedEvent {
        event_type: EventType::None,
        state: state.keeper_state(),
        path: String::new(),
        zxid: Zxid(0),
    }
}

/// Reads lines on its own thread: with rustyline on a terminal (prompt, editing, history), else
/// plain lines from stdin. Each prompt received yields one line (`None` at end of input).
fn reader(
    prompts: std::sync::mpsc::Receiver<String>,
    lines: tokio::sync::mpsc::Sender<Option<String>>,
) {
    if std::io::stdin().is_terminal() {
        if let Ok(mut ed) = rustyline::DefaultEditor::new() {
            while let Ok(p) = prompts.recv() {
                match ed.readline(&p) {
                    Ok(l) => {
                        if !l.trim().is_empty() {
                            let _ = ed.add_history_entry(l.as_str());
                        }
                        if lines.blocking_send(Some(l)).is_err() {
                            return;
                        }
                    }
                    Err(_) => {
                        // Ctrl-C, Ctrl-D or a terminal error: leave the shell.
                        let _ = lines.blocking_send(None);
                        return;
                    }
                }
            }
            return;
        }
    }
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    while prompts.recv().is_ok() {
        let mut l = String::new();
        let line = match input.read_line(&mut l) {
            Ok(0) | Err(_) => None,
            Ok(_) => Some(l.trim_end_matches(['\n', '\r']).to_string()),
        };
        let end = line.is_none();
        if lines.blocking_send(line).is_err() || end {
            return;
        }
    }
}

/// The interactive shell: commands from the reader thread, watch and session events printed as
/// they come (zkCli's `WATCHER::` blocks) unless `printwatches off`. Returns the exit code (0).
pub async fn interactive(client: &Client, server: &str) -> u8 {
    let tty = std::io::stdin().is_terminal();
    let (prompt_tx, prompt_rx) = std::sync::mpsc::channel::<String>();
    let (line_tx, mut line_rx) = tokio::sync::mpsc::channel::<Option<String>>(1);
    std::thread::spawn(move || reader(prompt_rx, line_tx));

    let mut states = client.state_events();
    let mut states_open = true;
    let mut watches: SelectAll<Events> = SelectAll::new();
    let mut shell = Shell::interactive();
    print!(
        "{}",
        format::watcher_block(&session_event(SessionState::Connected))
    );
    let _ = std::io::stdout().flush();
    let _ = prompt_tx.send(prompt(server, client, shell.count));
    loop {
        tokio::select! {
            // Events first: an event that arrived before a command's answer is printed (or,
            // with printwatches off, dropped) before the next command runs.
            biased;
            Some(ev) = watches.next() => match ev {
                Ok(ev) if shell.print_watches() => {
                    print!("{}", format::watcher_block(&ev));
                    let _ = std::io::stdout().flush();
                }
                // printwatches off (the event is dropped, as zkCli's watcher does), or a watch
                // that ended with the session.
                _ => {}
            },
            st = states.recv(), if states_open => match st {
                Ok(s) => {
                    if shell.print_watches() {
                        print!("{}", format::watcher_block(&session_event(s)));
                        let _ = std::io::stdout().flush();
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => states_open = false,
            },
            line = line_rx.recv() => {
                let Some(Some(line)) = line else { break };
                let mut out = String::new();
                let mut new_watches = Vec::new();
                let r = shell.run_line(client, &line, &mut out, &mut new_watches).await;
                watches.extend(new_watches);
                print!("{out}");
                let _ = std::io::stdout().flush();
                match r {
                    Some(Ok(Outcome::Quit)) => break,
                    None | Some(Ok(Outcome::Continue)) => {}
                    Some(Ok(Outcome::Note(note))) => eprintln!("{note}"),
                    Some(Err(e)) => eprintln!("{e}"),
                }
                let _ = prompt_tx.send(prompt(server, client, shell.count));
            }
        }
    }
    if tty {
        println!();
    }
    0
}

#[cfg(test)]
mod tests;
