//! Unit tests of `info.rs`: every typed value into its `JOBOBJECT_*`
//! structure, field by field, and back. They run on Windows and on any host
//! (`host.rs`); on a 32-bit target they also check what does not fit.

use std::time::Duration;

use proptest::prelude::*;

use super::super::types::check_group_affinity;
use super::*;
use crate::MIN_MEMORY_LIMIT;

fn rate(hundredths: u32) -> CpuRate {
    CpuRate::from_hundredths(hundredths).unwrap()
}

fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// Every extended field set, each to a value unlike the others.
fn full_extended() -> ExtendedLimits {
    let mut l = ExtendedLimits::new();
    l.working_set = Some(WorkingSet {
        min: 1 << 20,
        max: 8 << 20,
    });
    l.process_time = Some(ms(1500));
    l.job_time = Some(ms(2500));
    l.active_processes = Some(7);
    l.affinity = Some("0,2-3".parse().unwrap());
    l.subset_affinity = true;
    l.priority_class = Some(PriorityClass::BelowNormal);
    l.scheduling_class = Some(SchedulingClass::new(3).unwrap());
    l.process_memory = Some(64 << 20);
    l.job_memory = Some(256 << 20);
    l.die_on_unhandled_exception = true;
    l.breakaway = Breakaway::Silent;
    l.kill_on_close = true;
    l
}

#[test]
fn extended_limits_field_by_field() {
    let info = encode_extended(&full_extended(), false).unwrap();
    let basic = &info.BasicLimitInformation;
    assert_eq!(
        basic.LimitFlags,
        0x1 | 0x2
            | 0x4
            | 0x8
            | 0x10
            | 0x20
            | 0x80
            | 0x100
            | 0x200
            | 0x400
            | 0x1000
            | 0x2000
            | 0x4000
    );
    assert_eq!(basic.MinimumWorkingSetSize, 1 << 20);
    assert_eq!(basic.MaximumWorkingSetSize, 8 << 20);
    assert_eq!(basic.PerProcessUserTimeLimit, 15_000_000);
    assert_eq!(basic.PerJobUserTimeLimit, 25_000_000);
    assert_eq!(basic.ActiveProcessLimit, 7);
    assert_eq!(basic.Affinity, 0b1101);
    assert_eq!(basic.PriorityClass, 0x4000);
    assert_eq!(basic.SchedulingClass, 3);
    assert_eq!(info.ProcessMemoryLimit, 64 << 20);
    assert_eq!(info.JobMemoryLimit, 256 << 20);
    assert_eq!(decode_extended(&info).unwrap(), full_extended());

    // Nothing set: no flag, no value.
    let empty = encode_extended(&ExtendedLimits::new(), false).unwrap();
    assert_eq!(empty.BasicLimitInformation.LimitFlags, 0);
    assert_eq!(decode_extended(&empty).unwrap(), ExtendedLimits::new());

    // Breakaway allowed is its own flag.
    let mut allowed = ExtendedLimits::new();
    allowed.breakaway = Breakaway::Allowed;
    let info = encode_extended(&allowed, false).unwrap();
    assert_eq!(info.BasicLimitInformation.LimitFlags, 0x800);
    assert_eq!(decode_extended(&info).unwrap(), allowed);
}

#[test]
fn unchanged_job_time_is_preserved_not_reset() {
    let mut l = ExtendedLimits::new();
    l.job_time = Some(ms(100));
    let info = encode_extended(&l, true).unwrap();
    assert_eq!(info.BasicLimitInformation.LimitFlags, 0x40);
    assert_eq!(info.BasicLimitInformation.PerJobUserTimeLimit, 0);
    // Without a job time limit there is nothing to preserve.
    let info = encode_extended(&ExtendedLimits::new(), true).unwrap();
    assert_eq!(info.BasicLimitInformation.LimitFlags, 0);
}

#[test]
fn every_priority_class_has_its_value() {
    let expected = [
        (PriorityClass::Idle, 0x40),
        (PriorityClass::BelowNormal, 0x4000),
        (PriorityClass::Normal, 0x20),
        (PriorityClass::AboveNormal, 0x8000),
        (PriorityClass::High, 0x80),
        (PriorityClass::Realtime, 0x100),
    ];
    for (class, value) in expected {
        let mut l = ExtendedLimits::new();
        l.priority_class = Some(class);
        let info = encode_extended(&l, false).unwrap();
        assert_eq!(info.BasicLimitInformation.PriorityClass, value, "{class:?}");
        assert_eq!(decode_extended(&info).unwrap(), l);
        assert_eq!(priority_class_from(value), Some(class));
    }
    assert_eq!(priority_class_from(0x1234), None);
}

#[test]
fn answers_no_value_can_hold_are_invalid_data() {
    let mut info = b::JOBOBJECT_EXTENDED_LIMIT_INFORMATION::default();
    info.BasicLimitInformation.LimitFlags = 0x20;
    info.BasicLimitInformation.PriorityClass = 0x1234;
    let e = decode_extended(&info).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
    assert!(e.to_string().starts_with("priority_class"), "{e}");

    info.BasicLimitInformation.LimitFlags = 0x80;
    info.BasicLimitInformation.SchedulingClass = 10;
    assert!(
        decode_extended(&info)
            .unwrap_err()
            .to_string()
            .starts_with("scheduling_class")
    );

    info.BasicLimitInformation.LimitFlags = 0x4;
    info.BasicLimitInformation.PerJobUserTimeLimit = -1;
    assert!(
        decode_extended(&info)
            .unwrap_err()
            .to_string()
            .starts_with("job_time")
    );
}

#[cfg(target_pointer_width = "32")]
#[test]
fn what_a_32_bit_process_cannot_express_is_invalid_input() {
    let mut l = ExtendedLimits::new();
    l.job_memory = Some(5 << 30);
    let e = encode_extended(&l, false).err().expect("refused");
    assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    assert!(e.to_string().starts_with("job_memory"), "{e}");

    let mut l = ExtendedLimits::new();
    l.affinity = Some("40".parse().unwrap());
    let e = encode_extended(&l, false).err().expect("refused");
    assert!(e.to_string().starts_with("affinity"), "{e}");

    let e = encode_groups(&[GroupAffinity {
        group: 0,
        mask: 1 << 40,
    }])
    .err()
    .expect("refused");
    assert!(e.to_string().starts_with("group affinity"), "{e}");
}

#[cfg(target_pointer_width = "64")]
#[test]
fn a_64_bit_process_expresses_large_limits() {
    let mut l = ExtendedLimits::new();
    l.job_memory = Some(5 << 30);
    l.affinity = Some("63".parse().unwrap());
    let info = encode_extended(&l, false).unwrap();
    assert_eq!(info.JobMemoryLimit, 5 << 30);
    assert_eq!(info.BasicLimitInformation.Affinity, 1 << 63);
    assert_eq!(decode_extended(&info).unwrap(), l);
}

#[test]
fn ui_restrictions_flag_by_flag() {
    type Setter = fn(&mut UiRestrictions);
    let setters: [(Setter, u32); 9] = [
        (|u| u.handles = true, 0x1),
        (|u| u.read_clipboard = true, 0x2),
        (|u| u.write_clipboard = true, 0x4),
        (|u| u.system_parameters = true, 0x8),
        (|u| u.display_settings = true, 0x10),
        (|u| u.global_atoms = true, 0x20),
        (|u| u.desktop = true, 0x40),
        (|u| u.exit_windows = true, 0x80),
        (|u| u.ime = true, 0x100),
    ];
    for (set, bit) in setters {
        let mut ui = UiRestrictions::new();
        set(&mut ui);
        let info = encode_ui(ui);
        assert_eq!(info.UIRestrictionsClass, bit);
        assert_eq!(decode_ui(&info).unwrap(), ui);
    }
    assert_eq!(encode_ui(UiRestrictions::all()).UIRestrictionsClass, 0x1FF);
    assert_eq!(encode_ui(UiRestrictions::new()).UIRestrictionsClass, 0);
    let unknown = b::JOBOBJECT_BASIC_UI_RESTRICTIONS {
        UIRestrictionsClass: 0x200,
    };
    assert_eq!(
        decode_ui(&unknown).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
}

#[test]
fn cpu_rate_control_every_mode() {
    let cases = [
        (None, 0, 0),
        (
            Some(CpuRateControl::HardCap {
                rate: rate(2500),
                notify: false,
            }),
            0x1 | 0x4,
            2500,
        ),
        (
            Some(CpuRateControl::HardCap {
                rate: rate(1),
                notify: true,
            }),
            0x1 | 0x4 | 0x8,
            1,
        ),
        (
            Some(CpuRateControl::SoftCap {
                rate: rate(10_000),
                notify: false,
            }),
            0x1,
            10_000,
        ),
        (
            Some(CpuRateControl::Weight(CpuWeight::new(9).unwrap())),
            0x1 | 0x2,
            9,
        ),
        (
            Some(CpuRateControl::MinMax {
                min: Some(rate(1000)),
                max: rate(4000),
                notify: true,
            }),
            0x1 | 0x10 | 0x8,
            // MinRate is the low WORD on little-endian targets.
            u32::from_ne_bytes({
                let mut bytes = [0; 4];
                bytes[..2].copy_from_slice(&1000u16.to_ne_bytes());
                bytes[2..].copy_from_slice(&4000u16.to_ne_bytes());
                bytes
            }),
        ),
        (
            Some(CpuRateControl::MinMax {
                min: None,
                max: rate(4000),
                notify: false,
            }),
            0x1 | 0x10,
            u32::from_ne_bytes({
                let mut bytes = [0; 4];
                bytes[2..].copy_from_slice(&4000u16.to_ne_bytes());
                bytes
            }),
        ),
    ];
    for (control, flags, dword) in cases {
        let info = encode_cpu(control);
        assert_eq!(info.ControlFlags, flags, "{control:?}");
        assert_eq!(cpu_words(&info.Anonymous).0, dword, "{control:?}");
        assert_eq!(decode_cpu(&info).unwrap(), control);
    }
}

#[test]
fn cpu_rate_combinations_windows_refuses_are_invalid_data() {
    let raw = |flags: u32, value: u32| {
        let mut info = b::JOBOBJECT_CPU_RATE_CONTROL_INFORMATION {
            ControlFlags: flags,
            ..Default::default()
        };
        info.Anonymous.CpuRate = value;
        info
    };
    for (flags, value) in [
        (0x1 | 0x2 | 0x4, 5),  // weight and hard cap
        (0x1 | 0x4 | 0x10, 5), // hard cap and min/max
        (0x1 | 0x2 | 0x8, 5),  // a weight cannot notify
        (0x1 | 0x40, 5),       // unknown flag
        (0x1 | 0x4, 0),        // a rate of 0
        (0x1 | 0x4, 10_001),   // above 100 %
        (0x1 | 0x2, 10),       // a weight above 9
    ] {
        let e = decode_cpu(&raw(flags, value)).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{flags:#x} {value}");
        assert!(e.to_string().starts_with("cpu_rate_control"), "{e}");
    }
    // ENABLE clear: off, whatever else is there.
    assert_eq!(decode_cpu(&raw(0x4, 5)).unwrap(), None);
}

#[test]
fn net_rate_control_flags_and_values() {
    let mut net = NetRateControl::new();
    assert_eq!(encode_net(net).ControlFlags, 0);
    net.max_bandwidth = Some(1_000_000);
    let info = encode_net(net);
    assert_eq!(
        (info.ControlFlags, info.MaxBandwidth),
        (0x1 | 0x2, 1_000_000)
    );
    assert_eq!(decode_net(&info), net);
    net.dscp_tag = Some(46);
    let info = encode_net(net);
    assert_eq!((info.ControlFlags, info.DscpTag), (0x7, 46));
    assert_eq!(decode_net(&info), net);
    net.max_bandwidth = None;
    let info = encode_net(net);
    assert_eq!(info.ControlFlags, 0x1 | 0x4);
    assert_eq!(decode_net(&info), net);
}

#[test]
fn io_rate_control_flags_and_values() {
    let io = IoRateControl {
        volume: None,
        max_iops: Some(500),
        max_bandwidth: Some(1 << 20),
        reservation_iops: Some(50),
        base_io_size: Some(8192),
        standalone_volume: true,
        force_unit_access: ForceUnitAccess::OnSoftCap,
    };
    let info = encode_io(&io);
    assert_eq!(info.ControlFlags, 0x1 | 0x2 | 0x8);
    assert_eq!(
        (
            info.MaxIops,
            info.MaxBandwidth,
            info.ReservationIops,
            info.BaseIoSize
        ),
        (500, 1 << 20, 50, 8192)
    );
    assert!(info.VolumeName.is_null());
    assert_eq!(decode_io(&info, None).unwrap(), io);
    let named = IoRateControl {
        volume: Some(r"\\?\Volume{x}".into()),
        ..io.clone()
    };
    assert_eq!(decode_io(&info, named.volume.clone()).unwrap(), named);

    let off = encode_io(&IoRateControl::new());
    assert_eq!(off.ControlFlags, 0);
    let all = IoRateControl {
        force_unit_access: ForceUnitAccess::All,
        ..IoRateControl::new()
    };
    assert_eq!(encode_io(&all).ControlFlags, 0x4);
    assert_eq!(
        decode_io(&encode_io(&all), Some(String::new())).unwrap(),
        all
    );
}

#[test]
fn end_of_job_time_actions() {
    for (action, value) in [
        (EndOfJobTimeAction::Terminate, 0),
        (EndOfJobTimeAction::PostMessage, 1),
    ] {
        let info = encode_end_of_job_time(action);
        assert_eq!(info.EndOfJobTimeAction, value);
        assert_eq!(decode_end_of_job_time(&info).unwrap(), action);
    }
    let bad = b::JOBOBJECT_END_OF_JOB_TIME_INFORMATION {
        EndOfJobTimeAction: 2,
    };
    assert_eq!(
        decode_end_of_job_time(&bad).unwrap_err().kind(),
        io::ErrorKind::InvalidData
    );
}

fn full_notification() -> NotificationLimits {
    NotificationLimits {
        io_read_bytes: Some(1 << 30),
        io_write_bytes: Some(2 << 30),
        job_time: Some(ms(3000)),
        job_memory_high: Some(512 << 20),
        job_memory_low: Some(16 << 20),
        cpu_rate: Some(RateTolerance {
            tolerance: Tolerance::Medium,
            interval: ToleranceInterval::Long,
        }),
        io_rate: Some(RateTolerance {
            tolerance: Tolerance::Low,
            interval: ToleranceInterval::Short,
        }),
        net_rate: Some(RateTolerance {
            tolerance: Tolerance::High,
            interval: ToleranceInterval::Medium,
        }),
    }
}

#[test]
fn notification_limits_version_2_field_by_field() {
    let info = encode_notification2(&full_notification()).unwrap();
    assert_eq!(
        info.LimitFlags,
        0x10000 | 0x20000 | 0x4 | 0x200 | 0x8000 | 0x40000 | 0x80000 | 0x100000
    );
    assert_eq!(info.IoReadBytesLimit, 1 << 30);
    assert_eq!(info.IoWriteBytesLimit, 2 << 30);
    assert_eq!(info.PerJobUserTimeLimit, 30_000_000);
    assert_eq!(info.JobLowMemoryLimit, 16 << 20);
    assert_eq!(notification2_unions_of(&info), (512 << 20, 2, 3));
    assert_eq!(
        (
            info.IoRateControlTolerance,
            info.IoRateControlToleranceInterval
        ),
        (1, 1)
    );
    assert_eq!(
        (
            info.NetRateControlTolerance,
            info.NetRateControlToleranceInterval
        ),
        (3, 2)
    );
    assert_eq!(decode_notification2(&info).unwrap(), full_notification());
}

fn notification2_unions_of(
    info: &b::JOBOBJECT_NOTIFICATION_LIMIT_INFORMATION_2,
) -> (u64, i32, i32) {
    super::super::api::notification2_unions(info)
}

#[test]
fn notification_limits_version_1() {
    let mut v1 = full_notification();
    let e = encode_notification(&v1)
        .err()
        .expect("version 2 fields refused");
    assert_eq!(e.kind(), io::ErrorKind::Unsupported);
    v1.job_memory_low = None;
    v1.io_rate = None;
    v1.net_rate = None;
    let info = encode_notification(&v1).unwrap();
    assert_eq!(info.LimitFlags, 0x10000 | 0x20000 | 0x4 | 0x200 | 0x40000);
    assert_eq!(info.JobMemoryLimit, 512 << 20);
    assert_eq!(
        (info.RateControlTolerance, info.RateControlToleranceInterval),
        (2, 3)
    );
    assert_eq!(decode_notification(&info).unwrap(), v1);
    let empty = encode_notification(&NotificationLimits::new()).unwrap();
    assert_eq!(empty.LimitFlags, 0);

    let mut bad = info;
    bad.RateControlTolerance = 4;
    let e = decode_notification(&bad).unwrap_err();
    assert!(e.to_string().starts_with("cpu_rate"), "{e}");
}

/// `Event::NotificationLimit` names each crossed limit after its field.
#[test]
fn crossed_limits_are_named_after_their_fields() {
    assert_eq!(
        crossed_limit_names(&LimitViolation::default()).count(),
        0,
        "nothing crossed, nothing named"
    );
    let v1 = b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION {
        ViolationLimitFlags: 0x200 | 0x10000 | 0x40000,
        JobMemory: 300 << 20,
        JobMemoryLimit: 256 << 20,
        RateControlTolerance: 3,
        RateControlToleranceLimit: 1,
        ..Default::default()
    };
    let names: Vec<&str> = crossed_limit_names(&decode_violation(&v1).unwrap()).collect();
    assert_eq!(names, ["io_read_bytes", "job_memory_high", "cpu_rate"]);
    let every = LimitViolation {
        io_read_bytes: Some(Crossed { value: 2, limit: 1 }),
        io_write_bytes: Some(Crossed { value: 2, limit: 1 }),
        job_time: Some(Crossed {
            value: ms(2),
            limit: ms(1),
        }),
        job_memory_high: Some(Crossed { value: 2, limit: 1 }),
        job_memory_low: Some(Crossed { value: 1, limit: 2 }),
        cpu_rate: Some(Crossed {
            value: Tolerance::High,
            limit: Tolerance::Low,
        }),
        io_rate: Some(Crossed {
            value: Tolerance::High,
            limit: Tolerance::Low,
        }),
        net_rate: Some(Crossed {
            value: Tolerance::High,
            limit: Tolerance::Low,
        }),
    };
    let names: Vec<&str> = crossed_limit_names(&every).collect();
    assert_eq!(
        names,
        [
            "io_read_bytes",
            "io_write_bytes",
            "job_time",
            "job_memory_high",
            "job_memory_low",
            "cpu_rate",
            "io_rate",
            "net_rate"
        ]
    );
}

#[test]
fn limit_violations_say_which_limit_was_crossed() {
    let mut v1 = b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION {
        LimitFlags: 0x10000 | 0x200,
        ViolationLimitFlags: 0x200,
        IoReadBytes: 10,
        IoReadBytesLimit: 100,
        JobMemory: 300 << 20,
        JobMemoryLimit: 256 << 20,
        ..Default::default()
    };
    let violation = decode_violation(&v1).unwrap();
    assert_eq!(
        violation.job_memory_high,
        Some(Crossed {
            value: 300 << 20,
            limit: 256 << 20
        })
    );
    // In force but not crossed: not reported.
    assert_eq!(violation.io_read_bytes, None);
    assert!(!violation.is_empty());

    v1.ViolationLimitFlags = 0x4 | 0x40000 | 0x10000;
    v1.PerJobUserTime = 20_000_000;
    v1.PerJobUserTimeLimit = 10_000_000;
    v1.RateControlTolerance = 3;
    v1.RateControlToleranceLimit = 1;
    let violation = decode_violation(&v1).unwrap();
    assert_eq!(
        violation.job_time,
        Some(Crossed {
            value: ms(2000),
            limit: ms(1000)
        })
    );
    assert_eq!(
        violation.cpu_rate,
        Some(Crossed {
            value: Tolerance::High,
            limit: Tolerance::Low
        })
    );
    assert_eq!(
        violation.io_read_bytes,
        Some(Crossed {
            value: 10,
            limit: 100
        })
    );
    assert_eq!(violation.job_memory_high, None);

    let v2 = b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2 {
        ViolationLimitFlags: 0x8000 | 0x80000 | 0x100000 | 0x20000 | 0x200,
        IoWriteBytes: 5,
        IoWriteBytesLimit: 4,
        JobMemory: 1 << 20,
        Anonymous: b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2_0 {
            JobHighMemoryLimit: 1 << 19,
        },
        JobLowMemoryLimit: 2 << 20,
        IoRateControlTolerance: 2,
        IoRateControlToleranceLimit: 1,
        NetRateControlTolerance: 3,
        NetRateControlToleranceLimit: 2,
        ..Default::default()
    };
    let violation = decode_violation2(&v2).unwrap();
    assert_eq!(
        violation.job_memory_low,
        Some(Crossed {
            value: 1 << 20,
            limit: 2 << 20
        })
    );
    assert_eq!(
        violation.job_memory_high,
        Some(Crossed {
            value: 1 << 20,
            limit: 1 << 19
        })
    );
    assert_eq!(
        violation.io_write_bytes,
        Some(Crossed { value: 5, limit: 4 })
    );
    assert_eq!(
        violation.io_rate,
        Some(Crossed {
            value: Tolerance::Medium,
            limit: Tolerance::Low
        })
    );
    assert_eq!(
        violation.net_rate,
        Some(Crossed {
            value: Tolerance::High,
            limit: Tolerance::Medium
        })
    );
    assert!(
        decode_violation2(&b::JOBOBJECT_LIMIT_VIOLATION_INFORMATION_2::default())
            .unwrap()
            .is_empty()
    );
}

#[test]
fn group_affinity_entries() {
    let groups = [
        GroupAffinity {
            group: 0,
            mask: 0b11,
        },
        GroupAffinity {
            group: 1,
            mask: 0b100,
        },
    ];
    let raw = encode_groups(&groups).unwrap();
    assert_eq!(raw.len(), 2);
    assert_eq!(
        (raw[1].Group, raw[1].Mask, raw[1].Reserved),
        (1, 0b100, [0; 3])
    );
    assert_eq!(decode_groups(&raw), groups);
}

#[test]
fn portable_limits_share_the_extended_class() {
    let mut current = full_extended();
    current.priority_class = Some(PriorityClass::Realtime);
    let limits = Limits::new()
        .job_memory(MIN_MEMORY_LIMIT)
        .active_processes(2)
        .priority(crate::Priority::Idle);
    let next = extended_with_portable(&current, &limits);
    // Replaced: the portable fields.
    assert_eq!(next.job_memory, Some(MIN_MEMORY_LIMIT));
    assert_eq!(next.active_processes, Some(2));
    assert_eq!(next.priority_class, Some(PriorityClass::Idle));
    assert_eq!(next.process_memory, None);
    assert_eq!(next.job_time, None);
    assert_eq!(next.process_time, None);
    assert_eq!(next.affinity, None);
    assert!(!next.subset_affinity, "subset affinity goes with affinity");
    // Kept: what the portable limits do not know.
    assert!(next.kill_on_close);
    assert_eq!(next.breakaway, Breakaway::Silent);
    assert_eq!(next.working_set, current.working_set);
    assert_eq!(next.scheduling_class, current.scheduling_class);
    assert!(next.die_on_unhandled_exception);
    assert!(next.validate().is_ok());

    // Read back as the same portable limits.
    assert_eq!(portable(&next, None), limits);
    let with_cpu = limits.clone().cpu_rate(rate(2500));
    let cpu = cpu_with_portable(None, &with_cpu);
    assert_eq!(
        cpu,
        Some(CpuRateControl::HardCap {
            rate: rate(2500),
            notify: false
        })
    );
    assert_eq!(portable(&next, cpu), with_cpu);
    let weighted = limits.clone().cpu_weight(CpuWeight::new(2).unwrap());
    let cpu = cpu_with_portable(cpu, &weighted);
    assert_eq!(portable(&next, cpu), weighted);
    // Lifting the portable CPU limit turns a cap or weight off ...
    assert_eq!(cpu_with_portable(cpu, &limits), None);
    // ... but keeps a mode the portable limits cannot express.
    let soft = Some(CpuRateControl::SoftCap {
        rate: rate(10),
        notify: false,
    });
    assert_eq!(cpu_with_portable(soft, &limits), soft);
    assert_eq!(portable(&next, soft).cpu_rate, None);
}

// ---------------------------------------------------------------------------
// Property tests: any valid value survives the round trip.
// ---------------------------------------------------------------------------

/// Durations in whole ticks, up to about 3.5 years.
fn ticks_duration() -> impl Strategy<Value = Duration> {
    (1u64..=1 << 50).prop_map(|ticks| Duration::from_nanos(ticks * 100))
}

/// Memory limits this target can express.
fn memory() -> impl Strategy<Value = u64> {
    MIN_MEMORY_LIMIT..=u64::try_from(usize::MAX).unwrap_or(u64::MAX)
}

fn cpu_rate() -> impl Strategy<Value = CpuRate> {
    (1u32..=10_000).prop_map(rate)
}

fn rate_tolerance() -> impl Strategy<Value = RateTolerance> {
    (0usize..3, 0usize..3).prop_map(|(t, i)| RateTolerance {
        tolerance: [Tolerance::Low, Tolerance::Medium, Tolerance::High][t],
        interval: [
            ToleranceInterval::Short,
            ToleranceInterval::Medium,
            ToleranceInterval::Long,
        ][i],
    })
}

prop_compose! {
    fn extended()(
        working_set in proptest::option::of((1u64..=1 << 30, 0u64..=1 << 30)),
        process_time in proptest::option::of(ticks_duration()),
        job_time in proptest::option::of(ticks_duration()),
        active_processes in proptest::option::of(1u32..),
        affinity in proptest::option::of(1u64..=u64::try_from(usize::MAX).unwrap_or(u64::MAX)),
        subset_affinity in any::<bool>(),
        priority in proptest::option::of(0usize..6),
        scheduling_class in proptest::option::of(0u8..=9),
        process_memory in proptest::option::of(memory()),
        job_memory in proptest::option::of(memory()),
        die in any::<bool>(),
        breakaway in 0usize..3,
        kill_on_close in any::<bool>(),
    ) -> ExtendedLimits {
        let mut l = ExtendedLimits::new();
        l.working_set = working_set.map(|(min, extra)| WorkingSet { min, max: min + extra });
        l.process_time = process_time;
        l.job_time = job_time;
        l.active_processes = active_processes;
        l.affinity = affinity.map(CpuSet::from_mask);
        l.subset_affinity = subset_affinity && l.affinity.is_some();
        l.priority_class = priority.map(|p| [
            PriorityClass::Idle,
            PriorityClass::BelowNormal,
            PriorityClass::Normal,
            PriorityClass::AboveNormal,
            PriorityClass::High,
            PriorityClass::Realtime,
        ][p]);
        l.scheduling_class = scheduling_class.map(|c| SchedulingClass::new(c).unwrap());
        l.process_memory = process_memory;
        l.job_memory = job_memory;
        l.die_on_unhandled_exception = die;
        l.breakaway = [Breakaway::Never, Breakaway::Allowed, Breakaway::Silent][breakaway];
        l.kill_on_close = kill_on_close;
        l
    }
}

fn cpu_control() -> impl Strategy<Value = Option<CpuRateControl>> {
    prop_oneof![
        Just(None),
        (cpu_rate(), any::<bool>())
            .prop_map(|(rate, notify)| Some(CpuRateControl::HardCap { rate, notify })),
        (cpu_rate(), any::<bool>())
            .prop_map(|(rate, notify)| Some(CpuRateControl::SoftCap { rate, notify })),
        (1u8..=9).prop_map(|w| Some(CpuRateControl::Weight(CpuWeight::new(w).unwrap()))),
        (0u32..=10_000, 0u32..=10_000, any::<bool>()).prop_map(|(a, b, notify)| {
            let (low, high) = (a.min(b), a.max(b).max(1));
            Some(CpuRateControl::MinMax {
                min: (low > 0).then(|| rate(low)),
                max: rate(high),
                notify,
            })
        }),
    ]
}

prop_compose! {
    fn notification()(
        io_read_bytes in proptest::option::of(1u64..),
        io_write_bytes in proptest::option::of(1u64..),
        job_time in proptest::option::of(ticks_duration()),
        job_memory_high in proptest::option::of(4096u64..),
        job_memory_low in proptest::option::of(4096u64..),
        cpu_rate in proptest::option::of(rate_tolerance()),
        io_rate in proptest::option::of(rate_tolerance()),
        net_rate in proptest::option::of(rate_tolerance()),
    ) -> NotificationLimits {
        NotificationLimits {
            io_read_bytes, io_write_bytes, job_time, job_memory_high, job_memory_low,
            cpu_rate, io_rate, net_rate,
        }
    }
}

proptest! {
    #[test]
    fn extended_limits_round_trip(limits in extended()) {
        prop_assert!(limits.validate().is_ok());
        let info = encode_extended(&limits, false).unwrap();
        prop_assert_eq!(decode_extended(&info).unwrap(), limits);
    }

    #[test]
    fn cpu_rate_control_round_trips(control in cpu_control()) {
        prop_assert_eq!(decode_cpu(&encode_cpu(control)).unwrap(), control);
    }

    #[test]
    fn ui_restrictions_round_trip(bits in 0u32..0x200) {
        let ui = decode_ui(&b::JOBOBJECT_BASIC_UI_RESTRICTIONS { UIRestrictionsClass: bits }).unwrap();
        prop_assert_eq!(encode_ui(ui).UIRestrictionsClass, bits);
    }

    #[test]
    fn net_rate_control_round_trips(
        max_bandwidth in proptest::option::of(1u64..),
        dscp_tag in proptest::option::of(0u8..=63),
    ) {
        let net = NetRateControl { max_bandwidth, dscp_tag };
        prop_assert_eq!(decode_net(&encode_net(net)), net);
    }

    #[test]
    fn io_rate_control_round_trips(
        max_iops in proptest::option::of(1u64..=u64::try_from(i64::MAX).unwrap()),
        max_bandwidth in proptest::option::of(1u64..=u64::try_from(i64::MAX).unwrap()),
        reservation_iops in proptest::option::of(1u64..=u64::try_from(i64::MAX).unwrap()),
        base_io_size in proptest::option::of(1u32..),
        standalone_volume in any::<bool>(),
        fua in 0usize..3,
    ) {
        let io = IoRateControl {
            volume: None,
            max_iops,
            max_bandwidth,
            reservation_iops,
            base_io_size,
            standalone_volume,
            force_unit_access: [ForceUnitAccess::Never, ForceUnitAccess::All, ForceUnitAccess::OnSoftCap][fua],
        };
        prop_assert!(io.validate().is_ok());
        prop_assert_eq!(decode_io(&encode_io(&io), None).unwrap(), io);
    }

    #[test]
    fn notification_limits_round_trip(limits in notification()) {
        let info = encode_notification2(&limits).unwrap();
        prop_assert_eq!(decode_notification2(&info).unwrap(), limits);
        if !limits.needs_version_2() {
            let info = encode_notification(&limits).unwrap();
            prop_assert_eq!(decode_notification(&info).unwrap(), limits);
        }
    }

    #[test]
    fn group_affinity_round_trips(masks in proptest::collection::vec(1u64..=u64::try_from(usize::MAX).unwrap_or(u64::MAX), 1..8)) {
        let groups: Vec<GroupAffinity> = masks
            .into_iter()
            .zip(0u16..)
            .map(|(mask, group)| GroupAffinity { group, mask })
            .collect();
        prop_assert!(check_group_affinity(&groups).is_ok());
        prop_assert_eq!(decode_groups(&encode_groups(&groups).unwrap()), groups);
    }

    #[test]
    fn portable_limits_round_trip(
        job_memory in proptest::option::of(memory()),
        process_memory in proptest::option::of(memory()),
        active_processes in proptest::option::of(1u32..),
        job_cpu_time in proptest::option::of(ticks_duration()),
        process_cpu_time in proptest::option::of(ticks_duration()),
        cpu in 0u32..=10_000,
        weighted in any::<bool>(),
        affinity in proptest::option::of(1u64..=u64::try_from(usize::MAX).unwrap_or(u64::MAX)),
        base in extended(),
    ) {
        let mut limits = Limits::new();
        limits.job_memory = job_memory;
        limits.process_memory = process_memory;
        limits.active_processes = active_processes;
        limits.job_cpu_time = job_cpu_time;
        limits.process_cpu_time = process_cpu_time;
        limits.affinity = affinity.map(CpuSet::from_mask);
        if cpu > 0 {
            if weighted {
                limits.cpu_weight = Some(CpuWeight::new(u8::try_from(cpu % 9 + 1).unwrap()).unwrap());
            } else {
                limits.cpu_rate = Some(rate(cpu));
            }
        }
        prop_assert!(limits.validate().is_ok());
        let next = extended_with_portable(&base, &limits);
        prop_assert!(next.validate().is_ok());
        let info = encode_extended(&next, false).unwrap();
        let cpu = decode_cpu(&encode_cpu(cpu_with_portable(None, &limits))).unwrap();
        prop_assert_eq!(portable(&decode_extended(&info).unwrap(), cpu), limits);
        prop_assert_eq!(next.kill_on_close, base.kill_on_close);
        prop_assert_eq!(next.breakaway, base.breakaway);
    }
}
