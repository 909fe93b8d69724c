#!/usr/bin/env python3
"""Attributes the bytes of a davit binary built with its symbol table to crates.

  crates.py --nm NM --stripped STRIPPED --target T --variant V BINARY   > size.json
  crates.py --table size.json                              (prints the markdown table)

Every sized symbol in a file-backed section (code, read-only data, data) goes to the first
crate its demangled name names, skipping core/alloc/std, so that a monomorphized generic goes
to the crate that instantiated it when the name shows it (drop_in_place<oci_spec::...>), and
to the crate that defines it otherwise. C symbols (libseccomp, libbpf, libelf, zlib, glibc)
are grouped by their prefixes. What no symbol covers (unnamed constants, unwind tables,
relocations, headers) is reported as one row, so the rows add up to the shipped size.
"""
import argparse
import json
import os
import re
import subprocess
import sys

STD = {"core", "alloc", "std", "compiler_builtins", "hashbrown", "std_detect", "panic_abort",
       "rustc_demangle", "addr2line", "gimli", "object", "miniz_oxide", "adler2", "memchr_std"}
ROOT = re.compile(r"(?:^|[<&\s,(*\[;])(?:dyn |mut |const )*([A-Za-z_][A-Za-z0-9_]*)::")

# Prefixes of the C libraries linked in statically. Order matters: first match wins.
C_GROUPS = [
    ("C: libseccomp", ("wordlist", "in_word_set", "seccomp_", "_seccomp", "db_", "arch_", "gen_bpf", "gen_pfc", "_gen_",
                       "sys_chk", "_db_", "_bpf_", "hsh_", "syscall_", "x86_", "x32_",
                       "aarch64_", "arm_", "mips", "ppc", "s390", "riscv", "parisc", "loongarch",
                       "sh_", "m68k", "abi_", "_arch_", "_sys_")),
    ("C: libbpf", ("bpf_", "btf_", "libbpf_", "btf__", "bpf__", "ring_buffer", "perf_buffer",
                   "user_ring", "skel_", "kern_", "elf_sec", "hashmap_", "strset_", "usdt_",
                   "linker_", "bpf_linker", "gen_loader", "nlattr", "libbpf", "probe_",
                   "sys_bpf", "relo_", "bpf_core", "__bpf", "str_", "zero_", "ensure_")),
    ("C: libelf", ("elf_", "elf32_", "elf64_", "gelf_", "__elf", "__libelf", "libelf",
                   "nlist", "__nlist")),
    ("C: zlib", ("inflate", "deflate", "crc32", "adler32", "zlib", "z_", "_tr_", "gz",
                 "compress", "uncompress", "zcalloc", "zcfree", "_dist_code", "_length_code")),
]


# glibc (static) by what it does, to show where its megabyte goes; first match wins.
GLIBC = [
    ("C: glibc, dynamic loading and NSS (getpw*, getaddrinfo, iconv modules)",
     re.compile(r"^_dl_|^__libc_dl|^_dlfo|^dl_|^__dl|^do_lookup|^open_verify|^_nl_find|^decompose_rpath"
                r"|^fillin_rpath|^expand_dynamic|^open_path|^__nss|^nss_|^_nss|files_|getpw|getgr"
                r"|initgroups|getgrouplist")),
    ("C: glibc, resolver (getaddrinfo, getifaddrs)",
     re.compile(r"getaddrinfo|gaih|^__res|^res_|resolv|^__ns_|^ns_|gethostby|idna|^__inet|inet6"
                r"|^__dn_|^dn_|rfc3484|getifaddrs|gaiconf|^__netlink")),
    ("C: glibc, iconv and locales", re.compile(r"gconv|iconv|translit|^_nl_|locale|^__wcs|^__mbs"
                                              r"|wcrtomb|mbrtowc|^__strto.*_l|^____strto|^__tens")),
    ("C: glibc, stdio (printf, scanf)", re.compile(r"printf|scanf|^_IO_|^__printf")),
]


def crate_of(name):
    if "::" not in name:
        for group, prefixes in C_GROUPS:
            if name.startswith(prefixes):
                return group
        for group, pattern in GLIBC:
            if pattern.search(name):
                return group
        return "C: glibc, the rest (malloc, threads, startup, string functions)"
    roots = ROOT.findall(name)
    for r in roots:
        if r not in STD:
            return r
    return "std" if roots else "C: glibc, the rest (malloc, threads, startup, string functions)"


def measure(nm, binary):
    out = subprocess.run([nm, "-S", "--size-sort", "-C", binary], check=True,
                         capture_output=True, text=True).stdout
    crates, biggest = {}, {}
    for line in out.splitlines():
        parts = line.split(" ", 3)
        # Symbols without a size, and .bss (no bytes in the file), are not counted.
        if len(parts) < 4 or parts[2] in "bBN":
            continue
        size, name = int(parts[1], 16), parts[3]
        c = crate_of(name)
        crates[c] = crates.get(c, 0) + size
        if size > biggest.get(c, (0, ""))[0]:
            biggest[c] = (size, name[:120])
    return crates, biggest


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--nm")
    ap.add_argument("--stripped")
    ap.add_argument("--target")
    ap.add_argument("--variant", default="all")
    ap.add_argument("--table")
    ap.add_argument("binary", nargs="?")
    a = ap.parse_args()
    if a.table:
        print(table(json.load(open(a.table))))
        return
    crates, biggest = measure(a.nm, a.binary)
    shipped = os.path.getsize(a.stripped)
    json.dump({"target": a.target, "variant": a.variant, "shipped": shipped,
               "crates": crates, "biggest": biggest}, sys.stdout, indent=1)


def table(d, limit=25):
    crates = sorted(d["crates"].items(), key=lambda kv: -kv[1])
    named = sum(v for _, v in crates)
    rows = crates[:limit]
    rest = crates[limit:]
    lines = [f"| crate ({d['target']}) | bytes | share |", "|---|---|---|"]
    for c, v in rows:
        lines.append(f"| {c} | {v:,} | {100 * v / d['shipped']:.1f} % |")
    if rest:
        v = sum(x for _, x in rest)
        lines.append(f"| {len(rest)} other crates | {v:,} | {100 * v / d['shipped']:.1f} % |")
    other = d["shipped"] - named
    lines.append(f"| no symbol: unnamed constants, unwind tables, relocations, headers | {other:,} "
                 f"| {100 * other / d['shipped']:.1f} % |")
    lines.append(f"| **stripped binary** | **{d['shipped']:,}** | 100 % |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
