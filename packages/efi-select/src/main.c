/*
 * imgbuild-select: the UEFI application installed as EFI/BOOT/BOOTX64.EFI. It finds the disk it was
 * started from, lets selector.c choose the USR slot from the GPT attribute bits (gptprio.next), and
 * chain-loads that slot's own UKI from the same ESP. Everything here is firmware glue: the decision,
 * the GPT checks and the write order live in the pure files the host build tests.
 */
#include <efi.h>
#include <efilib.h>

#include "line.h"
#include "selector.h"

struct firmware {
	EFI_HANDLE image;
	EFI_HANDLE esp;
	EFI_BLOCK_IO *bio;
};

static void say(void *ctx, const char *text)
{
	(void)ctx;
	/* Print turns "\n" into CR LF itself. */
	Print(L"%a\n", text);
}

static void say_line(const char *a, const char *b)
{
	struct line l;

	line_start(&l);
	line_str(&l, a);
	line_str(&l, b);
	say(NULL, l.text);
}

static void status_text(EFI_STATUS status, char *out, unsigned size)
{
	CHAR16 wide[96];
	unsigned i;

	wide[0] = 0;
	StatusToString(wide, status);
	for (i = 0; i + 1 < size && wide[i]; i++)
		out[i] = wide[i] < 0x80 ? (char)wide[i] : '?';
	out[i] = 0;
}

static int block_read(void *ctx, uint64_t lba, void *buf, size_t bytes)
{
	struct firmware *fw = ctx;

	return EFI_ERROR(uefi_call_wrapper(fw->bio->ReadBlocks, 5, fw->bio, fw->bio->Media->MediaId, lba, bytes, buf));
}

static int block_write(void *ctx, uint64_t lba, const void *buf, size_t bytes)
{
	struct firmware *fw = ctx;

	return EFI_ERROR(uefi_call_wrapper(fw->bio->WriteBlocks, 5, fw->bio, fw->bio->Media->MediaId, lba, bytes,
					   (void *)buf));
}

/* The virtio disk under OVMF caches writes: the write order only holds if each write is flushed. */
static int block_flush(void *ctx)
{
	struct firmware *fw = ctx;

	return EFI_ERROR(uefi_call_wrapper(fw->bio->FlushBlocks, 1, fw->bio));
}

/* Whole pages: aligned for any IoAlign up to 4 KiB, which covers the disks we boot from. */
static void *page_alloc(void *ctx, size_t bytes)
{
	EFI_PHYSICAL_ADDRESS addr = 0;
	UINTN pages = EFI_SIZE_TO_PAGES(bytes ? bytes : 1);

	(void)ctx;
	if (EFI_ERROR(uefi_call_wrapper(BS->AllocatePages, 4, AllocateAnyPages, EfiLoaderData, pages, &addr)))
		return NULL;
	uefi_call_wrapper(BS->SetMem, 3, (void *)(UINTN)addr, pages * EFI_PAGE_SIZE, 0);
	return (void *)(UINTN)addr;
}

static void page_release(void *ctx, void *p, size_t bytes)
{
	(void)ctx;
	uefi_call_wrapper(BS->FreePages, 2, (EFI_PHYSICAL_ADDRESS)(UINTN)p, EFI_SIZE_TO_PAGES(bytes ? bytes : 1));
}

/* Returns only when the UKI could not be started, or came back. */
static int boot(void *ctx, int slot, const char *path, char *why, unsigned why_size)
{
	struct firmware *fw = ctx;
	CHAR16 wide[64];
	EFI_HANDLE uki = NULL;
	EFI_STATUS status;
	unsigned i;

	(void)slot;
	for (i = 0; i + 1 < sizeof(wide) / sizeof(wide[0]) && path[i]; i++)
		wide[i] = (CHAR16)path[i];
	wide[i] = 0;

	EFI_DEVICE_PATH *file = FileDevicePath(fw->esp, wide);
	if (!file) {
		status_text(EFI_OUT_OF_RESOURCES, why, why_size);
		return 1;
	}
	status = uefi_call_wrapper(BS->LoadImage, 6, FALSE, fw->image, file, NULL, 0, &uki);
	FreePool(file);
	if (!EFI_ERROR(status)) {
		status = uefi_call_wrapper(BS->StartImage, 3, uki, NULL, NULL);
		/* A UKI that returns did not boot, whatever its status says. */
		if (!EFI_ERROR(status))
			status = EFI_ABORTED;
		uefi_call_wrapper(BS->UnloadImage, 1, uki);
	}
	status_text(status, why, why_size);
	return 1;
}

/*
 * The whole disk under the ESP: the BlockIo handle whose device path is the ESP's without its last
 * (partition) node.
 */
static EFI_STATUS find_disk(struct firmware *fw, const char **why)
{
	EFI_DEVICE_PATH *esp_path = DevicePathFromHandle(fw->esp);
	EFI_DEVICE_PATH *disk_path, *node, *last = NULL, *rest;
	EFI_HANDLE disk;
	EFI_STATUS status;

	if (!esp_path) {
		*why = "the ESP has no device path";
		return EFI_NOT_FOUND;
	}
	disk_path = DuplicateDevicePath(esp_path);
	if (!disk_path) {
		*why = "out of memory";
		return EFI_OUT_OF_RESOURCES;
	}
	for (node = disk_path; !IsDevicePathEnd(node); node = NextDevicePathNode(node))
		last = node;
	if (!last) {
		FreePool(disk_path);
		*why = "the ESP's device path is empty";
		return EFI_NOT_FOUND;
	}
	SetDevicePathEndNode(last);

	rest = disk_path;
	status = uefi_call_wrapper(BS->LocateDevicePath, 3, &BlockIoProtocol, &rest, &disk);
	if (!EFI_ERROR(status) && !IsDevicePathEnd(rest))
		status = EFI_NOT_FOUND; /* only a prefix of the disk's path has BlockIo */
	FreePool(disk_path);
	if (EFI_ERROR(status)) {
		*why = "no BlockIo for the ESP's disk";
		return status;
	}
	status = uefi_call_wrapper(BS->HandleProtocol, 3, disk, &BlockIoProtocol, (void **)&fw->bio);
	if (EFI_ERROR(status)) {
		*why = "no BlockIo for the ESP's disk";
		return status;
	}
	if (fw->bio->Media->LogicalPartition || !fw->bio->Media->MediaPresent) {
		*why = "the ESP's parent is not a whole disk";
		return EFI_NOT_FOUND;
	}
	return EFI_SUCCESS;
}

/*
 * No slot's UKI could be started: a fault that may pass (a disk that came up late, a firmware hiccup).
 * Wait, then reset and choose again, rather than leave a machine off with nobody at its console.
 */
static void reset_and_retry(void)
{
	uefi_call_wrapper(BS->Stall, 1, 10 * 1000 * 1000);
	uefi_call_wrapper(RT->ResetSystem, 4, EfiResetCold, EFI_SUCCESS, 0, NULL);
}

/* Nothing to boot: leave the message readable for a moment, then power off instead of waiting for a key. */
static void power_off(void)
{
	uefi_call_wrapper(BS->Stall, 1, 3 * 1000 * 1000);
	uefi_call_wrapper(RT->ResetSystem, 4, EfiResetShutdown, EFI_SUCCESS, 0, NULL);
}

EFI_STATUS efi_main(EFI_HANDLE image, EFI_SYSTEM_TABLE *system_table)
{
	struct firmware fw = { .image = image };
	EFI_LOADED_IMAGE *loaded;
	const char *why = NULL;
	EFI_STATUS status;

	InitializeLib(image, system_table);
	status = uefi_call_wrapper(BS->HandleProtocol, 3, image, &LoadedImageProtocol, (void **)&loaded);
	if (EFI_ERROR(status)) {
		say_line("imgbuild-select: cannot find the boot disk: ", "no LoadedImage; powering off");
		power_off();
		return status;
	}
	fw.esp = loaded->DeviceHandle;
	status = find_disk(&fw, &why);
	if (EFI_ERROR(status)) {
		struct line l;

		line_start(&l);
		line_str(&l, "imgbuild-select: cannot find the boot disk: ");
		line_str(&l, why);
		line_str(&l, "; powering off");
		say(NULL, l.text);
		power_off();
		return status;
	}

	struct disk d = {
		.ctx = &fw,
		.block_size = fw.bio->Media->BlockSize,
		.last_lba = fw.bio->Media->LastBlock,
		.read = block_read,
		.write = block_write,
		.flush = block_flush,
		.alloc = page_alloc,
		.release = page_release,
	};
	struct boot_env env = { .ctx = &fw, .say = say, .boot = boot };
	if (selector_run(&d, &env, 0) == SELECTOR_RETRY)
		reset_and_retry();
	power_off();
	return EFI_NOT_FOUND;
}
