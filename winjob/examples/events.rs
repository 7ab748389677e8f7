//! Spawns a process tree, prints every event of its job as it happens, and
//! prints the job's accounting as JSON at the end.
//!
//! ```text
//! cargo run -p winjob --features serde --example events -- PROGRAM [ARGS...]
//! ```
//!
//! Without a program it runs itself as a small tree (a parent that starts
//! three children, each spinning for a moment), on Linux and Windows alike.

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut command = match args.next() {
        Some(node_arg) if node_arg == "node" => return node(args.next()),
        Some(program) => winjob::Command::new(program),
        None => winjob::Command::new(std::env::current_exe()?),
    };
    command.args(args);
    if std::env::args().len() == 1 {
        command.args(["node", "3"]);
    }

    let job = winjob::Job::new()?;
    let events = job.events()?;
    let mut child = command.spawn_in(&job)?;
    for event in &events {
        println!("{event:?}");
        if event == winjob::Event::Empty {
            break;
        }
    }
    child.wait()?;
    let report = serde_json::to_string_pretty(&job.accounting()?).map_err(std::io::Error::other)?;
    println!("{report}");
    Ok(())
}

/// The demo tree: `node N` starts N children running `node 0`; every node
/// spins for 100 ms, then waits for its children.
fn node(children: Option<String>) -> std::io::Result<()> {
    let n: usize = children.and_then(|n| n.parse().ok()).unwrap_or(0);
    let children: Vec<_> = (0..n)
        .map(|_| {
            // In the job already, as everything a member starts is.
            winjob::Command::new(std::env::current_exe()?)
                .args(["node", "0"])
                .spawn()
        })
        .collect::<Result<_, _>>()?;
    let until = std::time::Instant::now() + std::time::Duration::from_millis(100);
    while std::time::Instant::now() < until {
        std::hint::black_box(0u64);
    }
    for mut child in children {
        child.wait()?;
    }
    Ok(())
}
