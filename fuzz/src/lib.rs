//! Support for vswitch's fuzz targets: the structured input of `switch_ops`
//! ([`ops`]) and the run of the shared checks of `vswitch-testkit` on it
//! ([`check`]).
//!
//! The targets themselves are in `fuzz_targets/`; `seed-corpora.sh` builds their
//! seed corpora with the `seed-corpora` example.

pub mod check;
pub mod ops;

#[cfg(test)]
mod test {
    use crate::ops::*;
    use vswitch_core::PortFlags;

    fn frame(dst: Addr, src: Addr, tags: Tags) -> FrameSpec {
        FrameSpec {
            dst,
            src,
            tags,
            payload: 30,
            cut: None,
        }
    }

    #[test]
    fn encode_then_decode_is_the_same_scenario() {
        let s = Scenario {
            cfg: Cfg {
                hub: false,
                vlan_aware: true,
                aging: 1 << 31,
                capacity: 3,
                stop_learning: true,
                entry_stats: true,
                mask: 0x4008,
                seed: 7u64.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                start: START_NEAR_WRAP,
                ports: vec![
                    PortSpec {
                        mode: Mode::Access(10),
                        ..PortSpec::default()
                    },
                    PortSpec {
                        flags: PortFlags {
                            hairpin: true,
                            learning: false,
                            ..PortFlags::default()
                        },
                        mode: Mode::Trunk {
                            allowed: vec![10, 30],
                            native: Some(1),
                        },
                        up: false,
                        ..PortSpec::default()
                    },
                ],
                guard: None,
            },
            ops: vec![
                Op::Frame(0, frame(Addr::Broadcast, Addr::Host(3), Tags::None)),
                Op::Frame(
                    6,
                    frame(
                        Addr::Raw([1, 2, 3, 4, 5, 6]),
                        Addr::LinkLocal(14),
                        Tags::Dot1ad {
                            outer: 100,
                            inner: Some(4095),
                        },
                    ),
                ),
                Op::Batch(
                    1,
                    vec![
                        frame(
                            Addr::Multicast(2),
                            Addr::Zero,
                            Tags::Dot1q {
                                pcp: 5,
                                dei: true,
                                vid: 333,
                            },
                        ),
                        FrameSpec {
                            cut: Some(13),
                            ..frame(Addr::Host(7), Addr::Host(0), Tags::Old9100(20))
                        },
                        frame(
                            Addr::Host(1),
                            Addr::Host(2),
                            Tags::Truncated {
                                tpid: 0x88a8,
                                keep: 3,
                            },
                        ),
                        frame(Addr::Host(1), Addr::Host(2), Tags::Raw(vec![0x81, 0, 0])),
                    ],
                    TxFault {
                        mtu: 60,
                        full: 0b101,
                    },
                ),
                Op::Time(TimeStep::Forward(3)),
                Op::Time(TimeStep::Forward(399)),
                Op::Time(TimeStep::Forward(1 << 32)),
                Op::Time(TimeStep::Forward(BIG_STEP_BASE + 4 * 12345)),
                Op::Time(TimeStep::Aging(-1)),
                Op::Time(TimeStep::Back(999)),
                Op::Time(TimeStep::End(2)),
                Op::Sweep,
                Op::Lookup(4095, 7),
                Op::SetUp(2, false),
                Op::AddPort(PortSpec {
                    mode: Mode::Access(4095),
                    ..PortSpec::default()
                }),
                Op::RemovePort(5),
                Op::SetFlags(
                    1,
                    PortFlags {
                        flood_unknown: false,
                        ..PortFlags::default()
                    },
                ),
                Op::SetVlan(
                    0,
                    Mode::Trunk {
                        allowed: vec![],
                        native: None,
                    },
                ),
                Op::AddStatic(20, 4, 6),
                Op::Remove(0, 0),
                Op::FlushPort(3, true),
                Op::FlushVlan(10),
                Op::FlushAll(false),
                Op::Reclaim(5),
            ],
        };
        assert_eq!(Scenario::decode(&s.encode()), s);
    }

    #[test]
    fn no_bytes_is_a_default_switch_with_one_port() {
        let s = Scenario::decode(&[]);
        assert!(s.ops.is_empty());
        assert_eq!(s.cfg.ports.len(), 1);
        assert_eq!((s.cfg.aging, s.cfg.capacity), (300_000, 8));
        assert!(!s.cfg.hub && !s.cfg.vlan_aware);
        crate::check::run(&s);
    }
}
