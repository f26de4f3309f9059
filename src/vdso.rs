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
    pub bytes: [u8; 8],
}

/// The writes for one image, and where a `syscall` instruction will be once
/// they are made (the tracer uses it to run a system call in the child).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub patches: Vec<Patch>,
    pub syscall_offset: Option<u64>,
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
pub fn plan(image: &[u8], wants: Wants) -> Result<Plan, String> {
    let syms = symbols(image)?;
    let mut targets: Vec<(&str, [u8; 8], bool)> = Vec::new();
    if wants.time {
        targets.push(("clock_gettime", syscall_stub(libc::SYS_clock_gettime), true));
        targets.push(("gettimeofday", syscall_stub(libc::SYS_gettimeofday), true));
        targets.push(("time", syscall_stub(libc::SYS_time), true));
        targets.push(("clock_getres", syscall_stub(libc::SYS_clock_getres), true));
    }
    if wants.getcpu {
        targets.push(("getcpu", syscall_stub(libc::SYS_getcpu), true));
    }
    if wants.getrandom {
        targets.push(("getrandom", ENOSYS_STUB, false));
    }
    let mut out = Plan::default();
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
                bytes,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

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
        )
        .unwrap();
        // Aliases share an address and are patched once.
        assert!(p.patches.iter().any(|x| x.offset == cg.offset));
        let mut offs: Vec<u64> = p.patches.iter().map(|x| x.offset).collect();
        offs.dedup();
        assert_eq!(offs.len(), p.patches.len());
        assert_eq!(p.syscall_offset, Some(cg.offset + 5));
        assert!(plan(&img, Wants::default()).unwrap().patches.is_empty());
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
