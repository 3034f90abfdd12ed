//! Panics reach the joiner and never take a worker down.

mod util;

use greenmongo_runtime::coroutine;

#[test]
fn a_panic_reaches_join_and_the_worker_goes_on() {
    let rt = util::runtime(1);
    for i in 0..20 {
        let err = rt
            .spawn(move || -> u32 { panic!("boom {i}") })
            .join()
            .unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message(), Some(format!("boom {i}").as_str()));
        assert_eq!(err.to_string(), format!("coroutine panicked: boom {i}"));
    }
    // The single worker still runs coroutines.
    assert_eq!(rt.block_on(|| 7), 7);
}

#[test]
fn a_panic_inside_nested_coroutines_is_joined_by_the_parent() {
    let rt = util::runtime(2);
    let msg = rt.block_on(|| {
        let child = coroutine::spawn(|| -> () { panic!("{}", String::from("owned message")) });
        child.join().unwrap_err().panic_message().map(str::to_owned)
    });
    assert_eq!(msg.as_deref(), Some("owned message"));
}

#[test]
#[should_panic(expected = "from block_on")]
fn block_on_re_raises_the_panic() {
    let rt = util::runtime(1);
    rt.block_on(|| panic!("from block_on"));
}

#[test]
fn the_payload_can_be_re_raised() {
    let rt = util::runtime(1);
    let err = rt.spawn(|| std::panic::panic_any(42u8)).join().unwrap_err();
    let payload = err.try_into_panic().unwrap();
    assert_eq!(payload.downcast_ref::<u8>(), Some(&42));
}
