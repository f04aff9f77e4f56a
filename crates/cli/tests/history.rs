//! zkCli's shell commands `history`, `redo cmdno` and `printwatches on|off`, in the interactive
//! shell fed on stdin and one-shot.

mod support;

use support::Server;

const WATCHER: &str =
    "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/h\n";

#[test]
fn history_redo_and_printwatches_in_the_shell() {
    let s = Server::start();
    // Numbered as the prompt numbers them; the empty line is not a command.
    let script = "\
create /h one
get /h

set /h two
history
redo 1
redo 0
redo 9
redo 6
history
printwatches
get -w /h
printwatches off
set /h three
printwatches
get -w /h
printwatches on
set /h four
redo 14
set /h five
history
";
    let (code, out, err) = s.shell(script);
    assert_eq!(code, 0, "{err}");
    let expected = format!(
        "Connecting to {addr}\n\
         \nWATCHER::\n\nWatchedEvent state:SyncConnected type:None path:null\n\
         Created /h\n\
         one\n\
         0 - create /h one\n1 - get /h\n2 - set /h two\n3 - history\n\
         two\n\
         0 - create /h one\n1 - get /h\n2 - set /h two\n3 - history\n4 - get /h\n\
         5 - create /h one\n6 - redo 9\n7 - redo 6\n8 - history\n\
         printwatches is on\n\
         two\n\
         printwatches is off\n\
         three\n\
         {WATCHER}\
         four\n\
         {WATCHER}\
         9 - printwatches\n10 - get -w /h\n11 - printwatches off\n12 - set /h three\n\
         13 - printwatches\n14 - get -w /h\n15 - printwatches on\n16 - set /h four\n\
         17 - get -w /h\n18 - set /h five\n19 - history\n",
        addr = s.addr
    );
    assert_eq!(out, expected);
    // `redo 0` ran the create again; 9 was not yet typed; 6 was a redo.
    assert_eq!(
        err,
        "Node already exists: /h\nCommand index out of range\nNo redoing redos\n"
    );
}

/// A command on the command line is command 0 of a shell of its own: `history` lists just it,
/// `redo` has nothing to replay.
#[test]
fn one_shot_history_redo_printwatches() {
    let s = Server::start();
    assert_eq!(s.run("history"), (0, "0 - history\n".into(), String::new()));
    assert_eq!(
        s.run("redo 0"),
        (1, String::new(), "Command index out of range\n".into())
    );
    assert_eq!(
        s.run("redo x"),
        (
            1,
            String::new(),
            "cmdno must be an integer: x\nredo cmdno\n".into()
        )
    );
    assert_eq!(
        s.run("printwatches"),
        (0, "printwatches is on\n".into(), String::new())
    );
    assert_eq!(s.run("printwatches off"), (0, String::new(), String::new()));
}
