//! Stack-overflow reports: a SIGSEGV/SIGBUS handler that recognises a fault in the guard
//! page of the running coroutine, names the coroutine on stderr and aborts.
//!
//! Faults anywhere else go to the handler that was installed before ours (the standard
//! library's, which reports thread stack overflows), or to the default action.

use std::{
    io,
    mem::{self, MaybeUninit},
    ptr,
    sync::OnceLock,
};

use crate::park;

/// The handlers that were in place before ours: `[SIGSEGV, SIGBUS]`.
static PREVIOUS: OnceLock<[libc::sigaction; 2]> = OnceLock::new();

/// Size of the alternate signal stack each worker sets up when it has none.
const ALT_STACK_SIZE: usize = 64 * 1024;

/// Installs the handler once per process.
pub(crate) fn install() {
    PREVIOUS.get_or_init(|| [install_for(libc::SIGSEGV), install_for(libc::SIGBUS)]);
}

fn install_for(signal: libc::c_int) -> libc::sigaction {
    // SAFETY: sigaction is plain old data; zeroed is a valid "no handler" value that
    // sigaction() overwrites with the current disposition.
    let mut previous: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: as above.
    let mut action: libc::sigaction = unsafe { mem::zeroed() };
    action.sa_sigaction = handler as *const () as usize;
    action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
    // SAFETY: both pointers are valid for the call; the handler only does
    // async-signal-safe work (reads thread-locals without lazy init, write(2), abort).
    unsafe {
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(signal, &action, &mut previous);
    }
    previous
}

/// An alternate signal stack for the calling thread, so the handler can run when the
/// coroutine stack is exhausted. Keeps the thread's existing one (the standard library
/// gives its threads one). Unmapped when dropped, at the end of the worker thread.
pub(crate) struct AltStack {
    mapping: Option<(*mut libc::c_void, usize)>,
}

impl AltStack {
    pub(crate) fn ensure() -> io::Result<AltStack> {
        let mut current = MaybeUninit::<libc::stack_t>::uninit();
        // SAFETY: querying only (new stack is null); `current` is written by the call.
        let current = unsafe {
            if libc::sigaltstack(ptr::null(), current.as_mut_ptr()) != 0 {
                return Err(io::Error::last_os_error());
            }
            current.assume_init()
        };
        if current.ss_flags & libc::SS_DISABLE == 0 {
            return Ok(AltStack { mapping: None });
        }
        // SAFETY: an anonymous private mapping with no address hint has no preconditions.
        let mem = unsafe {
            libc::mmap(
                ptr::null_mut(),
                ALT_STACK_SIZE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        if mem == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let stack = libc::stack_t {
            ss_sp: mem,
            ss_flags: 0,
            ss_size: ALT_STACK_SIZE,
        };
        // SAFETY: `stack` describes the mapping made above, which lives until drop.
        if unsafe { libc::sigaltstack(&stack, ptr::null_mut()) } != 0 {
            let err = io::Error::last_os_error();
            // SAFETY: the mapping was made above and is not in use.
            unsafe { libc::munmap(mem, ALT_STACK_SIZE) };
            return Err(err);
        }
        Ok(AltStack {
            mapping: Some((mem, ALT_STACK_SIZE)),
        })
    }
}

impl Drop for AltStack {
    fn drop(&mut self) {
        if let Some((mem, len)) = self.mapping {
            let disable = libc::stack_t {
                ss_sp: ptr::null_mut(),
                ss_flags: libc::SS_DISABLE,
                ss_size: 0,
            };
            // SAFETY: the thread is leaving its worker loop; no signal handler runs on
            // this stack any more once it is disabled, so it can be unmapped.
            unsafe {
                libc::sigaltstack(&disable, ptr::null_mut());
                libc::munmap(mem, len);
            }
        }
    }
}

extern "C" fn handler(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let addr = unsafe { (*info).si_addr() } as usize;
    let hit = park::with_current(|ctx| {
        let Some(ctx) = ctx else { return false };
        let (low, high) = ctx.guard;
        if !(low <= addr && addr < high) {
            return false;
        }
        let mut out = StderrWriter;
        out.str("\ngreenmongo-runtime: coroutine ");
        match ctx.task().name.as_deref() {
            Some(name) => {
                out.str("'");
                out.str(name);
                out.str("' ");
            }
            None => out.str("<unnamed> "),
        }
        out.str("(id ");
        out.num(ctx.task().id);
        out.str(") has overflowed its stack of ");
        out.num(ctx.stack_size as u64);
        out.str(
            " bytes; the guard page caught it. Give it a bigger stack with \
             coroutine::Builder::stack_size or runtime::Builder::stack_size.\n",
        );
        true
    });
    if hit {
        // SAFETY: abort is async-signal-safe.
        unsafe { libc::abort() };
    }
    chain(signal, info, context);
}

/// Hands the fault to the previous handler, or restores the default action so that the
/// faulting instruction, re-executed on return, kills the process as usual.
fn chain(signal: libc::c_int, info: *mut libc::siginfo_t, context: *mut libc::c_void) {
    let Some(previous) = PREVIOUS.get() else {
        return;
    };
    let previous = if signal == libc::SIGSEGV {
        &previous[0]
    } else {
        &previous[1]
    };
    let target = previous.sa_sigaction;
    if target == libc::SIG_DFL || target == libc::SIG_IGN {
        // SAFETY: restoring a disposition the process had before is always valid.
        unsafe { libc::sigaction(signal, previous, ptr::null_mut()) };
    } else if previous.sa_flags & libc::SA_SIGINFO != 0 {
        // SAFETY: the previous handler was registered with SA_SIGINFO, so it has this
        // signature and expects exactly these arguments.
        let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) =
            unsafe { mem::transmute(target) };
        f(signal, info, context);
    } else {
        // SAFETY: a handler registered without SA_SIGINFO takes the signal number only.
        let f: extern "C" fn(libc::c_int) = unsafe { mem::transmute(target) };
        f(signal);
    }
}

/// Formats to stderr with write(2) only: no allocation, no locks.
struct StderrWriter;

impl StderrWriter {
    fn str(&mut self, s: &str) {
        // SAFETY: writing a valid buffer to fd 2 is async-signal-safe.
        unsafe { libc::write(2, s.as_ptr().cast(), s.len()) };
    }

    fn num(&mut self, mut n: u64) {
        let mut buf = [0u8; 20];
        let mut i = buf.len();
        loop {
            i -= 1;
            buf[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        // SAFETY: decimal digits are ASCII.
        self.str(unsafe { std::str::from_utf8_unchecked(&buf[i..]) });
    }
}
