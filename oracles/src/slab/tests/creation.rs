//! Creation errors: CPUs, kegs, zones and limits.

use super::*;

#[test]
fn creation_errors() {
    assert_eq!(SlabModel::new(0), Err(CreateErrorKind::BadCpus));
    assert_eq!(SlabModel::new(MAX_CPUS + 1), Err(CreateErrorKind::BadCpus));
    assert_eq!(SlabModel::new(MAX_CPUS).unwrap().cpus(), MAX_CPUS);
    let mut m = SlabModel::new(2).unwrap();
    assert_eq!(m.add_keg(0, 8, false), Err(KegErrorKind::ZeroSize));
    for i in 0..MAX_KEGS {
        assert_eq!(m.add_keg(32, 8, false), Ok(i as u8));
    }
    // Layout errors come before TooMany.
    assert_eq!(m.add_keg(0, 8, false), Err(KegErrorKind::ZeroSize));
    assert_eq!(m.add_keg(32, 8, false), Err(KegErrorKind::TooMany));
    use ZoneErrorKind::*;
    let bad = ZoneConfig {
        rounds: MAX_ROUNDS + 1,
        depot: MAX_DEPOT + 1,
        limit: 0,
    };
    assert_eq!(m.add_zone(16, bad), Err(NoKeg));
    assert_eq!(m.add_zone(0, bad), Err(BadRounds));
    assert_eq!(m.add_zone(0, cfg(MAX_ROUNDS, MAX_DEPOT + 1)), Err(BadDepot));
    assert_eq!(m.add_packet_zone(0, 16, bad), Err(NoKeg));
    assert_eq!(m.add_packet_zone(16, 16, bad), Err(NoKeg));
    assert_eq!(m.add_packet_zone(3, 3, bad), Err(SameKeg));
    assert_eq!(m.add_packet_zone(3, 4, bad), Err(BadRounds));
    assert_eq!(
        m.add_packet_zone(3, 4, cfg(0, MAX_DEPOT + 1)),
        Err(BadDepot)
    );
    assert_eq!(m.add_packet_zone(1, 2, cfg(0, 0)), Ok(0));
    for i in 1..MAX_ZONES {
        assert_eq!(m.add_zone(0, cfg(MAX_ROUNDS, MAX_DEPOT)), Ok(i as u8));
    }
    assert_eq!(m.add_zone(0, bad), Err(BadRounds));
    assert_eq!(m.add_zone(0, cfg(1, 1)), Err(TooMany));
    assert_eq!(m.add_packet_zone(1, 2, cfg(1, 1)), Err(TooMany));
    assert_eq!(m.set_limit(MAX_ZONES as u8, 3), Err(NoZone));
    assert_eq!(m.set_limit(0, 3), Ok(()));
    assert_eq!(m.zone_stats(0).unwrap().limit, 3);
    m.self_check().unwrap();
    assert_eq!(
        m.zone_kind(0),
        Some(ZoneKind::Packet {
            primary: 1,
            secondary: 2
        })
    );
    assert!(judge_eq(Check::Create, &m.add_keg(1, 1, false), &Ok(16)).is_err());
}
