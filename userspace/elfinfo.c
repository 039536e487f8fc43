// SPDX-License-Identifier: MIT
/* elfinfo.c — ELF facts: CPython interpreters (elfinfo.h). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "elfinfo.h"

static Elf *elf_open(const char *path, int *fd)
{
	Elf *elf;

	if (elf_version(EV_CURRENT) == EV_NONE)
		return NULL;
	*fd = open(path, O_RDONLY | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	elf = elf_begin(*fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || gelf_getclass(elf) != ELFCLASS64) {
		elf_end(elf);
		close(*fd);
		return NULL;
	}
	return elf;
}

static void elf_close(Elf *elf, int fd)
{
	elf_end(elf);
	close(fd);
}

static Elf_Scn *find_section(Elf *elf, const char *want, GElf_Shdr *out)
{
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx) != 0)
		return NULL;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *name;

		if (!gelf_getshdr(scn, out))
			continue;
		name = elf_strptr(elf, shstrndx, out->sh_name);
		if (name && !strcmp(name, want))
			return scn;
	}
	return NULL;
}

static int has_symbol(Elf *elf, const char *want)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_section(elf, ".dynsym", &sh);
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	size_t n = sh.sh_entsize && d ? sh.sh_size / sh.sh_entsize : 0;
	GElf_Sym sym;

	for (size_t i = 0; i < n; i++) {
		const char *s;

		if (!gelf_getsym(d, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
			continue;
		s = elf_strptr(elf, sh.sh_link, sym.st_name);
		if (s && !strcmp(s, want))
			return 1;
	}
	return 0;
}

/* DT_NEEDED libpython3.X... of the executable, or "". */
static void needed_libpython(Elf *elf, char *out, size_t len)
{
	GElf_Shdr sh;
	Elf_Scn *scn = find_section(elf, ".dynamic", &sh);
	Elf_Data *d = scn ? elf_getdata(scn, NULL) : NULL;
	size_t n = sh.sh_entsize && d ? sh.sh_size / sh.sh_entsize : 0;
	GElf_Dyn dyn;

	out[0] = 0;
	for (size_t i = 0; i < n; i++) {
		const char *s;

		if (!gelf_getdyn(d, (int)i, &dyn) || dyn.d_tag != DT_NEEDED)
			continue;
		s = elf_strptr(elf, sh.sh_link, dyn.d_un.d_val);
		if (s && !strncmp(s, "libpython", 9)) {
			snprintf(out, len, "%s", s);
			return;
		}
	}
}

/* libpythonX.Y[d|m].so...: version from the name (3.8+ has audit hooks). */
static enum pysec_pykind kind_from_libname(const char *lib)
{
	int major = 0, minor = 0;

	if (sscanf(lib, "libpython%d.%d", &major, &minor) != 2)
		return PYSEC_PY_NONE;
	return major > 3 || (major == 3 && minor >= 8) ? PYSEC_PY_AUDIT : PYSEC_PY_OLD;
}

enum pysec_pykind pysec_elf_python_kind(const char *path)
{
	char lib[128];
	int fd;
	enum pysec_pykind k = PYSEC_PY_NONE;
	Elf *elf = elf_open(path, &fd);

	if (!elf)
		return PYSEC_PY_NONE;
	/* Py_BytesMain came with 3.8, as did the audit hooks */
	if (has_symbol(elf, "Py_BytesMain"))
		k = PYSEC_PY_AUDIT;
	else if (has_symbol(elf, "Py_Main"))
		k = PYSEC_PY_OLD;
	else {
		needed_libpython(elf, lib, sizeof(lib));
		if (lib[0])
			k = kind_from_libname(lib);
	}
	elf_close(elf, fd);
	return k;
}
