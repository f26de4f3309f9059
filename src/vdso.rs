//! Finding and redirecting vDSO entry points.
//!
//! The vDSO answers `clock_gettime`, `gettimeofday`, `time`, `clock_getres`,
//! `getcpu` and (Linux 6.11+) `getrandom` in user space, where seccomp never
//! sees them; glibc, static binaries and Go all call it. At every exec stop,
//! before the program's first instruction, each of these entry points is
//! overwritten with an 8-byte stub (research/spike-exec-ptrace.md Q5/Q6):
//! `mov eax, NR; syscall; ret` for the clocks and `getcpu`, so they reach the
//! supervisor like the system calls, and `mov rax, -ENOSYS; ret` for
//! `getrandom`, so libc falls back to the (seeded) system call.
//!
//! The offsets come from the symbol table of the child's own vDSO, since
//! they change with every kernel build. A symbol smaller than its stub cannot
//! be patched (hermit#24 met a 5-byte one): that is an error for the caller to
//! act on, never something to skip silently.

/// Which groups of entry points to redirect.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Wants {
    /// clock_gettime, gettimeofday, time, clock_getres → their system calls.
    pub time: bool,
    /// getcpu → its system call.
    pub getcpu: bool,
    /// getrandom → -ENOSYS.
    pub getrandom: bool,
}

impl Wants {
    pub fn any(self) -> bool {
        self.time || self.getcpu || self.getrandom
    }
}

/// One write to make: `bytes` at `offset` from the vDSO base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Patch {
    pub symbol: String,
    pub offset: u64,
    pub bytes: Vec<u8>,
}

/// The writes for one image, and where a `syscall` instruction will be once
/// they are made (the tracer uses it to run a system call in the child).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub patches: Vec<Patch>,
    pub syscall_offset: Option<u64>,
    /// The frozen clock's data block (offset from the base, slot count), when
    /// the clock entries were replaced by [`FAST_CLOCK`].
    pub fast: Option<(u64, u8)>,
    /// The largest run of bytes no entry can reach once the patches are made
    /// (offset, length): the tail of a redirected symbol, after its stub.
    pub spare: Option<(u64, u64)>,
}

/// `mov eax, nr; syscall; ret`
fn syscall_stub(nr: i64) -> [u8; 8] {
    let n = (nr as u32).to_le_bytes();
    [0xb8, n[0], n[1], n[2], n[3], 0x0f, 0x05, 0xc3]
}

/// `mov rax, -ENOSYS; ret` (imm32 sign-extended to -38).
const ENOSYS_STUB: [u8; 8] = [0x48, 0xc7, 0xc0, 0xda, 0xff, 0xff, 0xff, 0xc3];

/// Offset of the `syscall` instruction inside [`syscall_stub`].
const SYSCALL_AT: u64 = 5;

const STT_FUNC: u8 = 2;
const SHT_DYNSYM: u32 = 11;
const PT_LOAD: u32 = 1;
/// Refuse to read more than this: a vDSO is two or three pages.
pub const MAX_IMAGE: usize = 1 << 20;

fn u16_at(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], o: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(o..o + 8)?.try_into().ok()?))
}

/// How many bytes of the image hold its headers and tables (from the ELF header).
pub fn image_len(ehdr: &[u8]) -> Result<usize, String> {
    if ehdr.get(..4) != Some(b"\x7fELF") || ehdr.get(4) != Some(&2) {
        return Err("the vDSO is not a 64-bit ELF image".into());
    }
    let shoff = u64_at(ehdr, 40).unwrap_or(0);
    let shentsize = u16_at(ehdr, 58).unwrap_or(0) as u64;
    let shnum = u16_at(ehdr, 60).unwrap_or(0) as u64;
    let end = shoff.saturating_add(shentsize.saturating_mul(shnum));
    if shnum == 0 || end as usize > MAX_IMAGE {
        return Err("the vDSO has no usable section headers".into());
    }
    Ok(end as usize)
}

/// A defined function symbol: (name, offset from the image base, size).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The function symbols of a vDSO image (read from the start of its mapping).
pub fn symbols(image: &[u8]) -> Result<Vec<Symbol>, String> {
    image_len(image)?;
    let bad = || "the vDSO's ELF tables are malformed".to_string();
    let phoff = u64_at(image, 32).ok_or_else(bad)? as usize;
    let phentsize = u16_at(image, 54).ok_or_else(bad)? as usize;
    let phnum = u16_at(image, 56).ok_or_else(bad)? as usize;
    let shoff = u64_at(image, 40).ok_or_else(bad)? as usize;
    let shentsize = u16_at(image, 58).ok_or_else(bad)? as usize;
    let shnum = u16_at(image, 60).ok_or_else(bad)? as usize;
    // Symbol values are link-time addresses; the mapping starts at the first
    // PT_LOAD (file offset 0), so subtract its address.
    let load_vaddr = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .filter(|&p| u32_at(image, p) == Some(PT_LOAD))
        .filter_map(|p| u64_at(image, p + 16))
        .min()
        .ok_or("the vDSO has no PT_LOAD segment")?;
    let section = |i: usize| -> Option<(u32, u64, u64, u32, u64)> {
        let s = shoff + i * shentsize;
        Some((
            u32_at(image, s + 4)?,  // sh_type
            u64_at(image, s + 24)?, // sh_offset
            u64_at(image, s + 32)?, // sh_size
            u32_at(image, s + 40)?, // sh_link
            u64_at(image, s + 56)?, // sh_entsize
        ))
    };
    let (_, symoff, symsize, strndx, entsize) = (0..shnum)
        .filter_map(section)
        .find(|s| s.0 == SHT_DYNSYM)
        .ok_or("the vDSO has no dynamic symbol table")?;
    let (_, stroff, strsize, _, _) = section(strndx as usize).ok_or_else(bad)?;
    let strtab = image
        .get(stroff as usize..(stroff + strsize) as usize)
        .ok_or_else(bad)?;
    let entsize = if entsize == 0 { 24 } else { entsize as usize };
    let mut out = Vec::new();
    for i in 0..(symsize as usize / entsize) {
        let s = symoff as usize + i * entsize;
        let (Some(name), Some(info), Some(shndx), Some(value), Some(size)) = (
            u32_at(image, s),
            image.get(s + 4),
            u16_at(image, s + 6),
            u64_at(image, s + 8),
            u64_at(image, s + 16),
        ) else {
            return Err(bad());
        };
        if info & 0xf != STT_FUNC || shndx == 0 || value < load_vaddr {
            continue;
        }
        let Some(rest) = strtab.get(name as usize..) else {
            continue;
        };
        let end = rest.iter().position(|&c| c == 0).unwrap_or(rest.len());
        out.push(Symbol {
            name: String::from_utf8_lossy(&rest[..end]).into_owned(),
            offset: value - load_vaddr,
            size,
        });
    }
    Ok(out)
}

/// The patches `wants` needs for this image. Both spellings of each entry
/// (`__vdso_time` and `time`) are covered; an entry the image does not export
/// needs nothing, since nobody can call it.
///
/// `frozen` = (start ns, elapsed ns): the clock is frozen, so its entries may
/// answer in user space from a data block the supervisor updates
/// ([`FAST_CLOCK`]); if this vDSO has no room for that, they become system
/// calls like in the other modes.
pub fn plan(image: &[u8], wants: Wants, frozen: Option<(i64, i64)>) -> Result<Plan, String> {
    let syms = symbols(image)?;
    let mut out = Plan::default();
    let mut targets: Vec<(&str, [u8; 8], bool)> = Vec::new();
    let fast = match frozen {
        Some((start, elapsed)) if wants.time => fast_clock(&syms, start, elapsed)?,
        _ => None,
    };
    if let Some((patches, data, slots, syscall)) = fast {
        out.patches = patches;
        out.fast = Some((data, slots));
        out.syscall_offset = Some(syscall);
    } else if wants.time {
        targets.push(("clock_gettime", syscall_stub(libc::SYS_clock_gettime), true));
        targets.push(("gettimeofday", syscall_stub(libc::SYS_gettimeofday), true));
        targets.push(("time", syscall_stub(libc::SYS_time), true));
    }
    if wants.time {
        targets.push(("clock_getres", syscall_stub(libc::SYS_clock_getres), true));
    }
    if wants.getcpu {
        targets.push(("getcpu", syscall_stub(libc::SYS_getcpu), true));
    }
    if wants.getrandom {
        targets.push(("getrandom", ENOSYS_STUB, false));
    }
    for (entry, bytes, has_syscall) in targets {
        let vdso_name = format!("__vdso_{entry}");
        for s in syms
            .iter()
            .filter(|s| s.name == entry || s.name == vdso_name)
        {
            if out.patches.iter().any(|p| p.offset == s.offset) {
                continue;
            }
            if s.size < bytes.len() as u64 {
                return Err(format!(
                    "vDSO symbol {} is {} bytes, too small for the {}-byte redirect",
                    s.name,
                    s.size,
                    bytes.len()
                ));
            }
            if has_syscall && out.syscall_offset.is_none() {
                out.syscall_offset = Some(s.offset + SYSCALL_AT);
            }
            out.patches.push(Patch {
                symbol: s.name.clone(),
                offset: s.offset,
                bytes: bytes.to_vec(),
            });
        }
    }
    out.spare = spare(&syms, &out.patches);
    Ok(out)
}

/// The longest tail of a patched symbol behind its patch: dead code, since
/// the symbol's entry now goes elsewhere.
fn spare(syms: &[Symbol], patches: &[Patch]) -> Option<(u64, u64)> {
    patches
        .iter()
        .filter_map(|p| {
            let size = syms.iter().find(|s| s.offset == p.offset)?.size;
            let (from, to) = (p.offset + p.bytes.len() as u64, p.offset + size);
            let clear = !patches.iter().any(|q| q.offset >= from && q.offset < to);
            (to > from && clear).then_some((from, to - from))
        })
        .max_by_key(|&(_, len)| len)
}

/// Frozen-mode clock entries that answer in user space (assembled from this
/// source with GNU as, Intel syntax; `now` reads the elapsed time from the
/// slot the selector byte names, re-reading if the selector moved meanwhile):
///
/// ```text
/// cg:   call now; jc 9f; xor edx,edx; mov r8d,1000000000; div r8
///       mov [rsi],rax; mov [rsi+8],rdx; xor eax,eax; ret
/// 9:    mov eax,228; syscall; ret            # anything `now` does not know
/// gtod: mov r9,rdi; xor edi,edi; call now; test r9,r9; jz 1f
///       xor edx,edx; mov r8d,1000000000; div r8; mov [r9],rax; mov rax,rdx
///       xor edx,edx; mov r8d,1000; div r8; mov [r9+8],rax
/// 1:    test rsi,rsi; jz 2f; mov qword ptr [rsi],0
/// 2:    xor eax,eax; ret
/// tm:   mov r9,rdi; xor edi,edi; call now; xor edx,edx; mov r8d,1000000000
///       div r8; test r9,r9; jz 1f; mov [r9],rax
/// 1:    ret
/// now:  lea r8,[rip+data]
/// 1:    movzx ecx,byte ptr [r8+16]; mov rax,[r8+24+rcx*8]
///       cmp cl,byte ptr [r8+16]; jne 1b
///       cmp edi,11; ja 5f                    # negative or unknown ids
///       mov edx,0x121; bt edx,edi; jc 6f     # REALTIME, _COARSE, _ALARM
///       mov edx,0x2d2; bt edx,edi; jc 7f     # MONOTONIC, _RAW, _COARSE, BOOTTIME, _ALARM
///       cmp edi,11; je 8f                    # TAI
///       mov edx,0xc; bt edx,edi; jc 3f       # process and thread CPU time
/// 4:    stc; ret
/// 5:    test edi,edi; jns 4b; mov edx,edi; and edx,7; cmp edx,3; jb 3f  # CPU clock of a pid
///       stc; ret
/// 8:    movabs rdx,37000000000; add rax,rdx
/// 6:    add rax,[r8]; jmp 3f                 # + start
/// 7:    add rax,[r8+8]                       # + monotonic start
/// 3:    clc; ret
///       .balign 8
/// data: start(8) monotonic start(8) selector(1) pad(7) slots(8 each)
/// ```
pub const FAST_CLOCK: [u8; 240] = [
    0xe8, 0x7b, 0x00, 0x00, 0x00, 0x72, 0x15, 0x31, 0xd2, 0x41, 0xb8, 0x00, 0xca, 0x9a, 0x3b, 0x49,
    0xf7, 0xf0, 0x48, 0x89, 0x06, 0x48, 0x89, 0x56, 0x08, 0x31, 0xc0, 0xc3, 0xb8, 0xe4, 0x00, 0x00,
    0x00, 0x0f, 0x05, 0xc3, 0x49, 0x89, 0xf9, 0x31, 0xff, 0xe8, 0x52, 0x00, 0x00, 0x00, 0x4d, 0x85,
    0xc9, 0x74, 0x20, 0x31, 0xd2, 0x41, 0xb8, 0x00, 0xca, 0x9a, 0x3b, 0x49, 0xf7, 0xf0, 0x49, 0x89,
    0x01, 0x48, 0x89, 0xd0, 0x31, 0xd2, 0x41, 0xb8, 0xe8, 0x03, 0x00, 0x00, 0x49, 0xf7, 0xf0, 0x49,
    0x89, 0x41, 0x08, 0x48, 0x85, 0xf6, 0x74, 0x07, 0x48, 0xc7, 0x06, 0x00, 0x00, 0x00, 0x00, 0x31,
    0xc0, 0xc3, 0x49, 0x89, 0xf9, 0x31, 0xff, 0xe8, 0x14, 0x00, 0x00, 0x00, 0x31, 0xd2, 0x41, 0xb8,
    0x00, 0xca, 0x9a, 0x3b, 0x49, 0xf7, 0xf0, 0x4d, 0x85, 0xc9, 0x74, 0x03, 0x49, 0x89, 0x01, 0xc3,
    0x4c, 0x8d, 0x05, 0x69, 0x00, 0x00, 0x00, 0x41, 0x0f, 0xb6, 0x48, 0x10, 0x49, 0x8b, 0x44, 0xc8,
    0x18, 0x41, 0x3a, 0x48, 0x10, 0x75, 0xf0, 0x83, 0xff, 0x0b, 0x77, 0x25, 0xba, 0x21, 0x01, 0x00,
    0x00, 0x0f, 0xa3, 0xfa, 0x72, 0x38, 0xba, 0xd2, 0x02, 0x00, 0x00, 0x0f, 0xa3, 0xfa, 0x72, 0x33,
    0x83, 0xff, 0x0b, 0x74, 0x1c, 0xba, 0x0c, 0x00, 0x00, 0x00, 0x0f, 0xa3, 0xfa, 0x72, 0x28, 0xf9,
    0xc3, 0x85, 0xff, 0x79, 0xfa, 0x89, 0xfa, 0x83, 0xe2, 0x07, 0x83, 0xfa, 0x03, 0x72, 0x18, 0xf9,
    0xc3, 0x48, 0xba, 0x00, 0x32, 0x5f, 0x9d, 0x08, 0x00, 0x00, 0x00, 0x48, 0x01, 0xd0, 0x49, 0x03,
    0x00, 0xeb, 0x04, 0x49, 0x03, 0x40, 0x08, 0xf8, 0xc3, 0x0f, 0x1f, 0x80, 0x00, 0x00, 0x00, 0x00,
];
/// Entry offsets inside [`FAST_CLOCK`], and where its data block starts.
const FAST_GTOD: u64 = 0x24;
const FAST_TIME: u64 = 0x62;
const FAST_SYSCALL: u64 = 0x21;
pub const FAST_DATA: u64 = 0xf0;
/// Data block: start, monotonic start, selector (+pad), then the slots.
pub const FAST_SELECTOR: u64 = 16;
pub const FAST_SLOTS: u64 = 24;
const MIN_SLOTS: u64 = 8;
const MAX_SLOTS: u64 = 64;

/// The patches that put [`FAST_CLOCK`] over `clock_gettime` and jumps to it
/// over `gettimeofday` and `time`: (patches, data offset, slots, syscall
/// offset), or None if `clock_gettime` has too little room for it.
#[allow(clippy::type_complexity)]
fn fast_clock(
    syms: &[Symbol],
    start: i64,
    elapsed: i64,
) -> Result<Option<(Vec<Patch>, u64, u8, u64)>, String> {
    let find = |e: &str| {
        let v = format!("__vdso_{e}");
        syms.iter()
            .find(|s| s.name == v)
            .or_else(|| syms.iter().find(|s| s.name == e))
    };
    let Some(cg) = find("clock_gettime") else {
        return Ok(None);
    };
    let room = cg.size.saturating_sub(FAST_DATA + FAST_SLOTS) / 8;
    if room < MIN_SLOTS {
        return Ok(None);
    }
    let slots = room.min(MAX_SLOTS);
    let mut block = FAST_CLOCK.to_vec();
    block.extend_from_slice(&start.to_le_bytes());
    block.extend_from_slice(&crate::handlers::time::MONO_START_NS.to_le_bytes());
    block.extend_from_slice(&[0u8; 8]); // selector 0
    block.extend_from_slice(&elapsed.to_le_bytes());
    block.resize((FAST_DATA + FAST_SLOTS + slots * 8) as usize, 0);
    let mut patches = vec![Patch {
        symbol: cg.name.clone(),
        offset: cg.offset,
        bytes: block,
    }];
    for (entry, target) in [("gettimeofday", FAST_GTOD), ("time", FAST_TIME)] {
        let v = format!("__vdso_{entry}");
        for s in syms.iter().filter(|s| s.name == entry || s.name == v) {
            if patches.iter().any(|p| p.offset == s.offset) {
                continue;
            }
            if s.size < 5 {
                return Err(format!(
                    "vDSO symbol {} is {} bytes, too small for a jump",
                    s.name, s.size
                ));
            }
            // jmp rel32, relative to the end of the 5-byte instruction.
            let rel = (cg.offset + target) as i64 - (s.offset + 5) as i64;
            let mut b = vec![0xe9];
            b.extend_from_slice(&(rel as i32).to_le_bytes());
            patches.push(Patch {
                symbol: s.name.clone(),
                offset: s.offset,
                bytes: b,
            });
        }
    }
    Ok(Some((
        patches,
        cg.offset + FAST_DATA,
        slots as u8,
        cg.offset + FAST_SYSCALL,
    )))
}

/// The key and result of the last [`plan_cached`] call.
type Planned = (Vec<u8>, Wants, Option<(i64, i64)>, Plan);

thread_local! {
    static LAST_PLAN: std::cell::RefCell<Option<Planned>> =
        const { std::cell::RefCell::new(None) };
}

/// [`plan`], remembered for the last (image, wants, frozen): every process
/// of a machine maps the same vDSO image, so the symbol table is parsed once,
/// not at every exec stop (~6 µs). The key is the whole image, compared byte
/// for byte: a different image (another kernel's, or one already patched)
/// can never get this one's offsets.
pub fn plan_cached(image: &[u8], wants: Wants, frozen: Option<(i64, i64)>) -> Result<Plan, String> {
    let hit = LAST_PLAN.with(|l| {
        l.borrow()
            .as_ref()
            .filter(|(i, w, f, _)| *w == wants && *f == frozen && i[..] == *image)
            .map(|(_, _, _, p)| p.clone())
    });
    if let Some(p) = hit {
        return Ok(p);
    }
    let p = plan(image, wants, frozen)?;
    LAST_PLAN.with(|l| *l.borrow_mut() = Some((image.to_vec(), wants, frozen, p.clone())));
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_cache_never_serves_another_image_or_request() {
        let Some(img) = own_image() else { return };
        let all = Wants {
            time: true,
            getcpu: true,
            getrandom: true,
        };
        let seeded = Wants { time: false, ..all };
        let fresh = |i: &[u8], w, f| plan(i, w, f).unwrap();
        for (w, f) in [
            (all, None),
            (all, Some((5, 7))),
            (all, Some((5, 8))),
            (seeded, None),
        ] {
            assert_eq!(plan_cached(&img, w, f).unwrap(), fresh(&img, w, f));
            assert_eq!(plan_cached(&img, w, f).unwrap(), fresh(&img, w, f));
        }
        // A second image where clock_gettime sits 0x40 further: its own offsets.
        let syms = symbols(&img).unwrap();
        let cg = syms
            .iter()
            .find(|s| s.name == "__vdso_clock_gettime")
            .unwrap();
        let a = plan_cached(&img, all, None).unwrap();
        let mut moved = img.clone();
        let mut n = 0;
        for o in (0..img.len() - 24).step_by(8) {
            // st_value, st_size of a symbol entry (the load address is 0 here)
            if u64_at(&img, o) == Some(cg.offset) && u64_at(&img, o + 8) == Some(cg.size) {
                moved[o..o + 8].copy_from_slice(&(cg.offset + 0x40).to_le_bytes());
                n += 1;
            }
        }
        assert!(n > 0);
        let b = plan_cached(&moved, all, None).unwrap();
        assert_eq!(b, fresh(&moved, all, None));
        assert_ne!(a, b);
        assert!(b.patches.iter().any(|p| p.offset == cg.offset + 0x40));
        // An image whose tables are broken is refused, not served from the cache.
        let mut broken = img.clone();
        broken[0] = 0;
        assert!(plan_cached(&broken, all, None).is_err());
        assert_eq!(plan_cached(&img, all, None).unwrap(), a);
    }

    /// This process's own vDSO (same kernel as the children's).
    fn own_image() -> Option<Vec<u8>> {
        // SAFETY: getauxval only reads the auxiliary vector.
        let base = unsafe { libc::getauxval(libc::AT_SYSINFO_EHDR) } as usize;
        if base == 0 {
            return None;
        }
        // SAFETY: the vDSO is mapped readable at `base` for the process's life;
        // the header is 64 bytes, and image_len bounds what is read after it.
        let head = unsafe { std::slice::from_raw_parts(base as *const u8, 64) };
        let len = image_len(head).ok()?;
        // SAFETY: as above; section headers end within the mapped image.
        Some(unsafe { std::slice::from_raw_parts(base as *const u8, len) }.to_vec())
    }

    #[test]
    fn finds_and_plans_the_real_vdso() {
        let Some(img) = own_image() else {
            eprintln!("no vDSO in this process; skipping");
            return;
        };
        let syms = symbols(&img).unwrap();
        let cg = syms
            .iter()
            .find(|s| s.name == "__vdso_clock_gettime")
            .unwrap();
        assert!(cg.size >= 8);
        let p = plan(
            &img,
            Wants {
                time: true,
                getcpu: true,
                getrandom: true,
            },
            None,
        )
        .unwrap();
        assert!(p.fast.is_none());
        // Aliases share an address and are patched once.
        assert!(p.patches.iter().any(|x| x.offset == cg.offset));
        let mut offs: Vec<u64> = p.patches.iter().map(|x| x.offset).collect();
        offs.dedup();
        assert_eq!(offs.len(), p.patches.len());
        assert_eq!(p.syscall_offset, Some(cg.offset + 5));
        assert!(plan(&img, Wants::default(), None)
            .unwrap()
            .patches
            .is_empty());
    }

    #[test]
    fn spare_room_is_a_dead_tail_clear_of_every_patch() {
        let sym = |name: &str, offset, size| Symbol {
            name: name.into(),
            offset,
            size,
        };
        let patch = |offset, len| Patch {
            symbol: String::new(),
            offset,
            bytes: vec![0x90; len],
        };
        let syms = [
            sym("a", 0x100, 100),
            sym("b", 0x200, 40),
            sym("c", 0x300, 8),
        ];
        // The longest tail behind a patch.
        let p = [patch(0x100, 8), patch(0x200, 5), patch(0x300, 8)];
        assert_eq!(spare(&syms, &p), Some((0x108, 92)));
        // Unpatched symbols are live code, never spare.
        assert_eq!(spare(&syms, &p[1..]), Some((0x205, 35)));
        assert_eq!(spare(&syms, &[]), None);
        // A tail holding another patch is not spare.
        let p = [patch(0x100, 8), patch(0x120, 5)];
        assert_eq!(spare(&syms, &p), None);
        // In the real image: behind its patch, inside its symbol.
        let Some(img) = own_image() else { return };
        let wants = Wants {
            time: true,
            getcpu: true,
            getrandom: true,
        };
        for frozen in [None, Some((0, 0))] {
            let p = plan(&img, wants, frozen).unwrap();
            let (at, len) = p.spare.unwrap();
            let owner = p
                .patches
                .iter()
                .find(|x| x.offset + x.bytes.len() as u64 == at);
            assert!(owner.is_some(), "{at:#x}");
            for x in &p.patches {
                assert!(x.offset + x.bytes.len() as u64 <= at || x.offset >= at + len);
            }
        }
    }

    /// Applies the frozen plan to a copy of this process's vDSO in an
    /// executable mapping and calls the patched entries.
    #[test]
    fn frozen_clock_runs_in_user_space() {
        let Some(img) = own_image() else { return };
        let start = 946_684_800_000_000_000i64;
        let wants = Wants {
            time: true,
            ..Default::default()
        };
        let p = plan(&img, wants, Some((start, 2_000_000_123))).unwrap();
        let Some((data, slots)) = p.fast else {
            eprintln!("this vDSO has no room for the fast clock; skipping");
            return;
        };
        assert!(slots as u64 >= MIN_SLOTS);
        let len = (img.len() + 4095) & !4095;
        // SAFETY: a fresh private mapping, written then executed only here.
        let m = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        } as *mut u8;
        assert_ne!(m as *mut libc::c_void, libc::MAP_FAILED);
        // SAFETY: the image and every patch lie within the mapping.
        unsafe {
            std::ptr::copy_nonoverlapping(img.as_ptr(), m, img.len());
            for x in &p.patches {
                std::ptr::copy_nonoverlapping(
                    x.bytes.as_ptr(),
                    m.add(x.offset as usize),
                    x.bytes.len(),
                );
            }
        }
        let syms = symbols(&img).unwrap();
        let at = |n: &str| syms.iter().find(|s| s.name == n).map(|s| s.offset as usize);
        type Cg = extern "C" fn(i32, *mut libc::timespec) -> i64;
        type Gtod = extern "C" fn(*mut libc::timeval, *mut u64) -> i64;
        type Tm = extern "C" fn(*mut i64) -> i64;
        // SAFETY: the patched entries follow these C signatures.
        let (cg, gtod, tm): (Cg, Gtod, Tm) = unsafe {
            (
                std::mem::transmute::<*mut u8, Cg>(m.add(at("__vdso_clock_gettime").unwrap())),
                std::mem::transmute::<*mut u8, Gtod>(m.add(at("__vdso_gettimeofday").unwrap())),
                std::mem::transmute::<*mut u8, Tm>(m.add(at("__vdso_time").unwrap())),
            )
        };
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        assert_eq!(cg(libc::CLOCK_REALTIME, &mut ts), 0);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (946_684_802, 123));
        assert_eq!(cg(libc::CLOCK_MONOTONIC, &mut ts), 0);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (102, 123));
        assert_eq!(cg(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts), 0);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (2, 123));
        // An unknown clock falls back to the system call: EINVAL.
        assert_eq!(cg(10, &mut ts), -(libc::EINVAL as i64));
        let mut tv = libc::timeval {
            tv_sec: 0,
            tv_usec: 0,
        };
        let mut tz = 77u64;
        assert_eq!(gtod(&mut tv, &mut tz), 0);
        assert_eq!((tv.tv_sec, tv.tv_usec, tz), (946_684_802, 0, 0));
        let mut t = 0i64;
        assert_eq!(tm(&mut t), 946_684_802);
        assert_eq!(t, 946_684_802);
        // A new value in the next slot, then the selector: readers follow.
        // SAFETY: within the data block of the mapping.
        unsafe {
            let d = m.add(data as usize);
            std::ptr::write_unaligned(d.add((FAST_SLOTS + 8) as usize) as *mut i64, 5_000_000_000);
            *d.add(FAST_SELECTOR as usize) = 1;
        }
        assert_eq!(tm(std::ptr::null_mut()), 946_684_805);
        // SAFETY: unmapping what was mapped above.
        unsafe { libc::munmap(m.cast(), len) };
    }

    #[test]
    fn stubs() {
        assert_eq!(
            syscall_stub(libc::SYS_clock_gettime),
            [0xb8, 0xe4, 0, 0, 0, 0x0f, 0x05, 0xc3]
        );
        assert_eq!(syscall_stub(libc::SYS_getcpu)[1..3], [0x35, 0x01]);
    }

    #[test]
    fn too_small_symbol_is_an_error() {
        let Some(mut img) = own_image() else { return };
        // Shrink __vdso_time's st_size to 5 in the copy and expect a refusal.
        let syms = symbols(&img).unwrap();
        let t = syms.iter().find(|s| s.name == "__vdso_time");
        let Some(t) = t else { return };
        // Find the symbol entry whose value matches and patch its size field.
        let shoff = u64_at(&img, 40).unwrap() as usize;
        let shnum = u16_at(&img, 60).unwrap() as usize;
        for i in 0..shnum {
            let s = shoff + i * 64;
            if u32_at(&img, s + 4) == Some(SHT_DYNSYM) {
                let (off, size) = (u64_at(&img, s + 24).unwrap(), u64_at(&img, s + 32).unwrap());
                for e in (off..off + size).step_by(24) {
                    let e = e as usize;
                    if u64_at(&img, e + 8).map(|v| v & 0xfff) == Some(t.offset & 0xfff) {
                        img[e + 16..e + 24].copy_from_slice(&5u64.to_le_bytes());
                    }
                }
            }
        }
        let err = plan(
            &img,
            Wants {
                time: true,
                ..Default::default()
            },
            None,
        )
        .unwrap_err();
        assert!(err.contains("too small"), "{err}");
    }

    #[test]
    fn garbage_is_refused() {
        assert!(symbols(b"not an elf").is_err());
        assert!(image_len(&[0u8; 64]).is_err());
    }
}
