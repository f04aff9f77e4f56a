//! The shell's bookkeeping without a server: numbering, `history`'s window, `redo`'s checks.

use super::*;

/// A shell that has run `lines` (as numbered commands) and is now running `current`.
fn shell_after(lines: &[&str], current: &str) -> Shell {
    let mut shell = Shell::interactive();
    for line in lines.iter().chain([&current]) {
        shell.history.push(line.to_string());
        shell.count = shell.history.len() - 1;
    }
    shell
}

#[test]
fn history_lists_the_current_command_and_ten_before() {
    let shell = shell_after(&["ls /", "get /a"], "history");
    assert_eq!(shell.history_text(), "0 - ls /\n1 - get /a\n2 - history\n");

    let many: Vec<String> = (0..15).map(|i| format!("get /n{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let shell = shell_after(&many, "history");
    let text = shell.history_text();
    assert!(text.starts_with("5 - get /n5\n"), "{text}");
    assert!(text.ends_with("14 - get /n14\n15 - history\n"), "{text}");
    assert_eq!(text.lines().count(), 11);

    // One-shot: the command is number 0 and the whole history.
    assert_eq!(Shell::one_shot("history").history_text(), "0 - history\n");
}

#[test]
fn redo_replays_an_earlier_command() {
    let mut shell = shell_after(&["create /a x", "get -s /a"], "redo 1");
    assert_eq!(
        shell.redo(1),
        Ok(Command::Get {
            path: "/a".into(),
            stat: true,
            watch: false
        })
    );
    // The redo is remembered as the command it replayed.
    assert_eq!(shell.history[2], "get -s /a");
    assert!(shell.history_text().ends_with("2 - get -s /a\n"));
}

#[test]
fn redo_refuses_bad_numbers_and_redos() {
    let mut shell = shell_after(&["ls /", "redo 7"], "redo 2");
    let out_of_range = Err("Command index out of range".to_string());
    // Not this command, nor a later or negative one.
    assert_eq!(shell.redo(2), out_of_range);
    assert_eq!(shell.redo(3), out_of_range);
    assert_eq!(shell.redo(-1), out_of_range);
    assert_eq!(shell.redo(i32::MIN), out_of_range);
    // Command 1 was a redo that failed: it stays `redo 7`, and a redo is not redone.
    assert_eq!(shell.redo(1), Err("No redoing redos".to_string()));
    assert_eq!(shell.history[2], "redo 2");
    // A line that did not parse fails the same way again.
    let mut shell = shell_after(&["frobnicate"], "redo 0");
    assert!(shell
        .redo(0)
        .unwrap_err()
        .starts_with("Unknown command: frobnicate\n"));
    // One-shot: nothing before the command.
    assert_eq!(Shell::one_shot("redo 0").redo(0), out_of_range);
}

#[test]
fn printwatches_starts_on() {
    let mut shell = Shell::interactive();
    assert!(shell.print_watches());
    shell.set_print_watches(false);
    assert!(!shell.print_watches());
    assert!(Shell::one_shot("printwatches").print_watches());
}
