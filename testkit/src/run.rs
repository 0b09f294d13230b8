//! Runs a configuration and a sequence of operations through the checks of
//! [`crate::check`]: one runner per property. Each returns the first
//! [`Failure`](crate::Failure), with the step it happened at.

use crate::check::{
    check_decision, check_switch, compare_switches, compare_with_model, egress_of, entries_now,
    retagged, Before, TxTotals,
};
use crate::frame::host;
use crate::model::Model;
use crate::op::{scope, Cfg, Op, PortSpec, TxFault};
use crate::Checked;
use vswitch_core::fdb::FlushScope;
use vswitch_core::{
    ConfigError, Decision, FrameBatch, Instant, MacAddr, PortId, RemoteId, Switch, TxError,
};

/// The switch `cfg` describes, with its first ports (some set down).
pub fn build(cfg: &Cfg) -> Switch {
    let mut sw = Switch::new(cfg.config()).expect("a valid configuration");
    for spec in &cfg.ports {
        add_port(&mut sw, spec);
    }
    sw
}

/// Adds a port as `spec` describes it, up or down.
pub fn add_port(sw: &mut Switch, spec: &PortSpec) -> PortId {
    let id = sw.add_port(spec.config()).expect("room for a port");
    sw.set_port_up(id, spec.up).expect("the port just added");
    id
}

/// Forwards `frames` in on `ingress` as one batch, each port's transmit path
/// failing as `fault` says. Returns what was handed to each port, in the order
/// it was. The one place the tests and the fuzz target call `Switch::forward`.
pub fn forward(
    sw: &mut Switch,
    t: Instant,
    ingress: PortId,
    frames: &[Vec<u8>],
    fault: TxFault,
) -> (Vec<(PortId, Vec<u8>)>, Vec<Decision>) {
    forward_from(sw, t, ingress, None, frames, fault)
}

/// As [`forward`], every frame received from remote endpoint `remote`.
pub fn forward_from(
    sw: &mut Switch,
    t: Instant,
    ingress: PortId,
    remote: Option<RemoteId>,
    frames: &[Vec<u8>],
    fault: TxFault,
) -> (Vec<(PortId, Vec<u8>)>, Vec<Decision>) {
    // Small, so that a batch of more frames grows it.
    let mut batch = FrameBatch::with_capacity(2);
    for f in frames {
        batch.push_from(f, (), remote);
    }
    assert_eq!(batch.len(), frames.len(), "the batch lost frames");
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(batch.get(i), &f[..], "the batch changed frame {i}");
    }
    let mut sent = Vec::new();
    let decisions = sw
        .forward(t, ingress, &batch, |e| {
            sent.push((e.port, e.frame.to_vec()));
            fault.result(e.port, e.frame)
        })
        .to_vec();
    (sent, decisions)
}

/// Runs an operation that is not a frame on the switch alone. `now` is the
/// time of the operation, moved by [`Op::Time`].
pub fn admin(sw: &mut Switch, now: &mut u64, op: &Op) -> Checked {
    let t = Instant::from_millis(*now);
    match op {
        Op::Frame(..) | Op::Tunneled(..) | Op::Batch(..) => panic!("frames are not admin"),
        Op::Time(s) => {
            let aging = sw.fdb().config().aging_time.as_millis() as u64;
            *now = s.apply(*now, aging);
        }
        Op::Sweep => sw.fdb_mut().advance(t),
        Op::Lookup(vid, h) => {
            let mac = MacAddr(host(*h));
            let got = sw.fdb_mut().lookup(t, *vid, mac);
            let listed = entries_now(sw)
                .into_iter()
                .find(|e| e.vid == *vid && e.mac == mac)
                .map(|e| e.port);
            ensure_eq!(
                got,
                listed,
                "lookup of {mac} in VLAN {vid} disagrees with the listing"
            );
        }
        Op::Learn(vid, h, port) => {
            // Only onto ports that are up, as an adapter would: the invariants
            // are the switch's, and a port down holds no dynamic entries.
            if sw.port(PortId(*port)).is_some_and(|p| p.up) {
                sw.fdb_mut()
                    .learn(t, *vid, MacAddr(host(*h)), PortId(*port));
            }
        }
        Op::SetUp(port, up) => {
            let _ = sw.set_port_up(PortId(*port), *up);
        }
        Op::AddPort(spec) => {
            add_port(sw, spec);
        }
        Op::RemovePort(port) => {
            let _ = sw.remove_port(PortId(*port));
            ensure!(sw.port(PortId(*port)).is_none(), "port {port} still there");
        }
        Op::SetFlags(port, flags) => {
            let _ = sw.set_port_flags(PortId(*port), *flags);
        }
        Op::SetVlan(port, mode) => {
            let _ = sw.set_port_vlan(PortId(*port), mode.to_real());
        }
        Op::AddStatic(vid, h, port) => {
            sw.fdb_mut()
                .add_static(*vid, MacAddr(host(*h)), PortId(*port))
        }
        Op::Remove(vid, h) => {
            sw.fdb_mut().remove(*vid, MacAddr(host(*h)));
        }
        Op::FlushPort(port, all) => {
            sw.fdb_mut().flush_port(PortId(*port), scope(*all));
        }
        Op::FlushVlan(vid) => {
            sw.fdb_mut().flush_vlan(*vid);
        }
        Op::FlushAll(all) => {
            sw.fdb_mut().flush_all(scope(*all));
        }
        Op::Reclaim(n) => {
            let pending = sw.fdb().reclaim_pending();
            let done = sw.fdb_mut().reclaim(usize::from(*n));
            ensure_eq!(done, pending.min(usize::from(*n)), "reclaimed");
        }
    }
    Ok(())
}

/// The real switch and the model agree after every step.
pub fn switch_matches_model(cfg: &Cfg, ops: &[Op]) -> Checked {
    let mut sw = build(cfg);
    let mut m = Model::new(cfg);
    let mut now = cfg.start;
    compare_with_model(&mut sw, &m).map_err(|e| e.at(0, &Op::Sweep))?;
    for (i, op) in ops.iter().enumerate() {
        model_step(&mut sw, &mut m, &mut now, op)
            .and_then(|()| compare_with_model(&mut sw, &m))
            .map_err(|e| e.at(i, op))?;
    }
    Ok(())
}

/// An operation's result on the switch: `None` when the port does not exist,
/// the only error there may be.
fn real_result<T>(r: Result<T, ConfigError>, port: u16) -> Checked<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(e) => {
            ensure_eq!(e, ConfigError::NoSuchPort(PortId(port)), "error");
            Ok(None)
        }
    }
}

/// Runs one operation on both the switch and the model and checks the step's
/// own results.
fn model_step(sw: &mut Switch, m: &mut Model, now: &mut u64, op: &Op) -> Checked {
    let t = Instant::from_millis(*now);
    match op {
        Op::Frame(port, spec) => {
            let bytes = spec.bytes();
            let d = sw.decide(t, PortId(*port), &bytes);
            let md = m.decide(*now, *port, &bytes);
            ensure_eq!(d, md, "decision");
            ensure_eq!(egress_of(sw, &d), m.egress(&md), "egress set");
        }
        Op::Tunneled(port, r, spec) => {
            let bytes = spec.bytes();
            let remote = RemoteId(u16::from(*r));
            let d = sw.decide_from(t, PortId(*port), Some(remote), &bytes);
            let md = m.decide_from(*now, *port, Some(remote.0), &bytes);
            ensure_eq!(d, md, "decision on a tunneled frame");
            ensure_eq!(egress_of(sw, &d), m.egress(&md), "egress set");
        }
        Op::Batch(port, specs, fault) => {
            let frames: Vec<Vec<u8>> = specs.iter().map(|f| f.bytes()).collect();
            let (sent, got) = forward(sw, t, PortId(*port), &frames, *fault);
            let (decisions, msent) = m.forward(*now, *port, &frames, *fault);
            ensure_eq!(got, decisions, "batch decisions");
            ensure_eq!(sent, msent, "batch deliveries");
        }
        Op::Time(s) => *now = s.apply(*now, m.fdb.aging),
        Op::Sweep => {
            sw.fdb_mut().advance(t);
            m.fdb.tick(*now);
        }
        Op::Lookup(vid, h) => {
            let got = sw.fdb_mut().lookup(t, *vid, MacAddr(host(*h)));
            m.fdb.tick(*now);
            let want = m
                .fdb
                .find(*vid, host(*h))
                .map(|i| PortId(m.fdb.entries[i].port));
            ensure_eq!(got, want, "lookup");
        }
        Op::Learn(vid, h, port) => {
            let got = sw
                .fdb_mut()
                .learn(t, *vid, MacAddr(host(*h)), PortId(*port));
            ensure_eq!(got, m.fdb.learn(*now, *vid, host(*h), *port), "learn");
        }
        Op::SetUp(port, up) => {
            let r = real_result(sw.set_port_up(PortId(*port), *up), *port)?;
            ensure_eq!(r.is_some(), m.set_up(*port, *up), "set up");
        }
        Op::AddPort(spec) => {
            let id = add_port(sw, spec);
            ensure_eq!(id, PortId(m.add_port(spec)), "new port's number");
        }
        Op::RemovePort(port) => {
            let r = real_result(sw.remove_port(PortId(*port)), *port)?;
            let mr = m.remove_port(*port);
            ensure_eq!(
                r.map(|s| s.counters),
                mr.map(|p| p.counters),
                "removed port's counters"
            );
        }
        Op::SetFlags(port, flags) => {
            let r = real_result(sw.set_port_flags(PortId(*port), *flags), *port)?;
            let mr = m.port_mut(*port).map(|p| p.flags = *flags);
            ensure_eq!(r, mr, "set flags");
        }
        Op::SetVlan(port, mode) => {
            let r = real_result(sw.set_port_vlan(PortId(*port), mode.to_real()), *port)?;
            let mr = m.port_mut(*port).map(|p| p.mode = mode.clone());
            if mr.is_some() {
                m.fdb.flush_port(*port, FlushScope::Dynamic);
            }
            ensure_eq!(r, mr, "set VLAN");
        }
        Op::AddStatic(vid, h, port) => {
            sw.fdb_mut()
                .add_static(*vid, MacAddr(host(*h)), PortId(*port));
            m.fdb.add_static(*vid, host(*h), *port);
        }
        Op::Remove(vid, h) => {
            let r = sw.fdb_mut().remove(*vid, MacAddr(host(*h)));
            ensure_eq!(r, m.fdb.remove(*vid, host(*h)), "remove");
        }
        Op::FlushPort(port, all) => {
            let n = sw.fdb_mut().flush_port(PortId(*port), scope(*all));
            ensure_eq!(n, m.fdb.flush_port(*port, scope(*all)), "flush port");
        }
        Op::FlushVlan(vid) => {
            let n = sw.fdb_mut().flush_vlan(*vid);
            ensure_eq!(n, m.fdb.flush(|e| e.vid == *vid), "flush VLAN");
        }
        Op::FlushAll(all) => {
            let n = sw.fdb_mut().flush_all(scope(*all));
            let all = *all;
            ensure_eq!(n, m.fdb.flush(|e| all || !e.is_static), "flush all");
        }
        // Memory only: the model has nothing to do.
        Op::Reclaim(_) => admin(sw, now, op)?,
    }
    Ok(())
}

/// The rules of every decision and the switch's invariants after every step,
/// on the real switch alone: frames through `decide` (each checked as soon as
/// it is made), batches through `forward`.
pub fn invariants_hold(cfg: &Cfg, ops: &[Op]) -> Checked {
    let mut sw = build(cfg);
    let mut now = cfg.start;
    let mut clock = sw.fdb().clock();
    for (i, op) in ops.iter().enumerate() {
        let t = Instant::from_millis(now);
        let checked = match op {
            Op::Frame(port, spec) => {
                let bytes = spec.bytes();
                let before = Before::of(&sw, PortId(*port));
                let d = sw.decide(t, PortId(*port), &bytes);
                check_decision(&mut sw, &d, &bytes, Some(&before))
            }
            Op::Tunneled(port, r, spec) => {
                let bytes = spec.bytes();
                let before = Before::of(&sw, PortId(*port));
                let remote = Some(RemoteId(u16::from(*r)));
                let d = sw.decide_from(t, PortId(*port), remote, &bytes);
                check_decision(&mut sw, &d, &bytes, Some(&before))
            }
            Op::Batch(port, specs, fault) => {
                let frames: Vec<Vec<u8>> = specs.iter().map(|f| f.bytes()).collect();
                let (sent, decisions) = forward(&mut sw, t, PortId(*port), &frames, *fault);
                (|| {
                    ensure_eq!(decisions.len(), frames.len(), "decisions of a batch");
                    // Nothing handed to a port that is down after the batch:
                    // within a batch ports only go down (the move guard), or
                    // come back up at once from a shutdown of no time.
                    for (out, _) in &sent {
                        ensure!(
                            sw.port(*out).is_some_and(|p| p.up),
                            "a batch handed a frame to {out:?}, down"
                        );
                    }
                    for (d, f) in decisions.iter().zip(&frames) {
                        check_decision(&mut sw, d, f, None)?;
                    }
                    Ok(())
                })()
            }
            _ => admin(&mut sw, &mut now, op),
        };
        clock = checked
            .and_then(|()| check_switch(&mut sw, clock))
            .map_err(|e| e.at(i, op))?;
    }
    Ok(())
}

/// Two switches built alike: `a` gets every frame through `forward` (a batch
/// at a time, with transmit faults), `b` through `decide` one frame at a time,
/// each of its decisions checked as soon as it is made. `a` must decide the
/// same, deliver exactly the frames `b`'s decisions call for (grouped by port,
/// re-tagged for each port's mode) and count what it sent and what was refused;
/// to a port down after the batch (the move guard shut it down on a later
/// frame) it delivers nothing and counts `tx-down` instead
/// (docs/forwarding.md, "Batches").
/// Between steps both hold the switch's invariants and agree on everything
/// else.
pub fn forward_matches_decide(cfg: &Cfg, ops: &[Op]) -> Checked {
    let mut a = build(cfg);
    let mut b = build(cfg);
    let mut tx = TxTotals::new();
    let mut now = cfg.start;
    let mut clock = (a.fdb().clock(), b.fdb().clock());
    for (i, op) in ops.iter().enumerate() {
        let t = Instant::from_millis(now);
        let checked = match op {
            Op::Frame(port, spec) => {
                let frame = spec.bytes();
                batch_equivalence(
                    &mut a,
                    &mut b,
                    &mut tx,
                    t,
                    *port,
                    None,
                    &[frame],
                    TxFault::NONE,
                )
            }
            Op::Tunneled(port, r, spec) => {
                let frame = spec.bytes();
                let remote = Some(RemoteId(u16::from(*r)));
                batch_equivalence(
                    &mut a,
                    &mut b,
                    &mut tx,
                    t,
                    *port,
                    remote,
                    &[frame],
                    TxFault::NONE,
                )
            }
            Op::Batch(port, specs, fault) => {
                let frames: Vec<Vec<u8>> = specs.iter().map(|f| f.bytes()).collect();
                batch_equivalence(&mut a, &mut b, &mut tx, t, *port, None, &frames, *fault)
            }
            _ => {
                if let Op::RemovePort(p) = op {
                    tx.remove(p);
                }
                let mut b_now = now;
                admin(&mut a, &mut now, op).and_then(|()| admin(&mut b, &mut b_now, op))
            }
        };
        (|| {
            checked?;
            clock.0 = check_switch(&mut a, clock.0)?;
            clock.1 = check_switch(&mut b, clock.1)?;
            compare_switches(&mut a, &mut b, &tx)
        })()
        .map_err(|e| e.at(i, op))?;
    }
    Ok(())
}

/// A batch of frames in on `port`: `b` decides them one by one and each
/// decision is checked; `a` forwards them as one batch and must agree.
#[allow(clippy::too_many_arguments)]
fn batch_equivalence(
    a: &mut Switch,
    b: &mut Switch,
    tx: &mut TxTotals,
    t: Instant,
    port: u16,
    remote: Option<RemoteId>,
    frames: &[Vec<u8>],
    fault: TxFault,
) -> Checked {
    let ingress = PortId(port);
    let mut decisions = Vec::new();
    let mut expected = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let before = Before::of(b, ingress);
        let d = b.decide_from(t, ingress, remote, f);
        check_decision(b, &d, f, Some(&before))?;
        decisions.push(d);
        b.for_each_egress(&d, |out| expected.push((out, i)));
    }

    let (sent, got) = forward_from(a, t, ingress, remote, frames, fault);
    ensure_eq!(got, decisions, "forward decided otherwise than decide");
    for (d, f) in decisions.iter().zip(frames) {
        check_decision(a, d, f, None)?;
    }

    // Grouped by port in port order, frames in arrival order within a port.
    expected.sort_by_key(|&(out, i)| (out, i));
    let config = *b.config();
    let mut want = Vec::new();
    for (out, i) in expected {
        // `forward` delivers after deciding the whole batch: a port that a
        // later frame had the move guard shut down gets nothing (`tx-down`).
        if !b.port(out).is_some_and(|p| p.up) {
            tx.entry(out.0).or_default().down += 1;
            continue;
        }
        let bytes = if config.vlan_aware && !config.hub {
            let mode = &b.port(out).expect("egress to a port").config.vlan;
            retagged(mode, &decisions[i], &frames[i])
        } else {
            frames[i].clone()
        };
        let totals = tx.entry(out.0).or_default();
        match fault.result(out, &bytes) {
            Ok(()) => {
                totals.frames += 1;
                totals.bytes += bytes.len() as u64;
            }
            Err(TxError::TooBig) => totals.too_big += 1,
            Err(TxError::Full) => totals.full += 1,
            Err(TxError::NoRemote) => totals.no_remote += 1,
        }
        want.push((out, bytes));
    }
    ensure_eq!(sent, want, "forward delivered otherwise than decided");
    Ok(())
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::frame::{Addr, FrameSpec};
    use crate::op::TimeStep;

    #[test]
    fn a_failure_names_its_step() {
        let cfg = Cfg {
            aging: 10,
            ports: vec![PortSpec::default(); 2],
            ..Cfg::default()
        };
        let frame = FrameSpec::new;
        let ops = vec![
            Op::Frame(0, frame(Addr::Broadcast, Addr::Host(0))),
            Op::Time(TimeStep::Forward(15)),
            Op::Frame(1, frame(Addr::Host(0), Addr::Host(1))),
            Op::Batch(
                1,
                vec![frame(Addr::Host(0), Addr::Host(1)); 3],
                TxFault { mtu: 60, full: 1 },
            ),
            Op::Lookup(0, 0),
        ];
        assert_eq!(switch_matches_model(&cfg, &ops), Ok(()));
        assert_eq!(invariants_hold(&cfg, &ops), Ok(()));
        assert_eq!(forward_matches_decide(&cfg, &ops), Ok(()));

        // A model told a longer aging time still knows host 0 when the switch
        // has let it age out, and says so at the next frame.
        let mut sw = build(&cfg);
        let mut m = Model::new(&Cfg {
            aging: 20,
            ..cfg.clone()
        });
        let mut now = 0;
        let mut first = None;
        for (i, op) in ops.iter().enumerate() {
            let r = model_step(&mut sw, &mut m, &mut now, op)
                .and_then(|()| compare_with_model(&mut sw, &m))
                .map_err(|e| e.at(i, op));
            if let Err(e) = r {
                first = Some(e);
                break;
            }
        }
        let e = first.expect("the model disagreed");
        assert!(e.to_string().starts_with("step 2 (Frame("), "{e}");
    }
}
