// The run page: the disc in v86 (an x86 PC in WebAssembly) as its CD-ROM, booting the disc
// itself or an environment's boot disk. Every image is loaded whole into this page's memory:
// what the programs write stays here and is gone when the page closes.
"use strict";
(function () {
  const root = document.getElementById("run");
  const d = root.dataset;
  const status = document.getElementById("status");
  const screen = document.getElementById("screen");
  const say = (text) => { status.textContent = text; };
  // Spindle may be mounted under a path of the library's site (http.base_path).
  const base = document.documentElement.dataset.base || "";

  const options = {
    wasm_path: base + "/assets/vendor/v86/v86.wasm",
    bios: { url: base + "/assets/vendor/v86/seabios.bin" },
    vga_bios: { url: base + "/assets/vendor/v86/vgabios.bin" },
    memory_size: (Number(d.memory) || 64) * 1024 * 1024,
    vga_memory_size: 8 * 1024 * 1024,
    screen_container: screen,
    cdrom: { url: d.cdrom },
    autostart: true,
  };
  if (d.disk && d.diskKind === "floppy") {
    options.fda = { url: d.disk };
    options.boot_order = 0x231; // floppy, CD-ROM, hard disk
  } else if (d.disk) {
    options.hda = { url: d.disk };
    options.boot_order = 0x132; // hard disk, CD-ROM, floppy
  } else {
    options.boot_order = 0x213; // CD-ROM first
  }

  say(d.loading);
  let emulator;
  try {
    emulator = new V86(options);
  } catch (e) {
    say(d.failed + ": " + e);
    return;
  }
  // For the page's own tests and for anyone curious in the console.
  window.spindleEmulator = emulator;
  emulator.add_listener("download-progress", (p) => {
    if (p.lengthComputable && p.total) {
      say(d.loading + " " + Math.round((100 * p.loaded) / p.total) + " %");
    }
  });
  emulator.add_listener("download-error", () => say(d.failed));
  emulator.add_listener("emulator-ready", () => {
    say(d.running);
    screen.focus();
  });

  document.getElementById("fullscreen").addEventListener("click", () => emulator.screen_go_fullscreen());
  document.getElementById("capture").addEventListener("click", () => emulator.lock_mouse());
  screen.addEventListener("click", () => screen.focus());
  document.getElementById("ctrl-alt-del").addEventListener("click", () => {
    // Make codes for Ctrl, Alt and Delete, then their breaks.
    emulator.keyboard_send_scancodes([0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
  });
  const swap = document.getElementById("swap");
  if (swap) {
    swap.addEventListener("change", () => {
      say(d.loading);
      emulator.set_cdrom({ url: swap.value }).then(() => say(d.running));
    });
  }
})();
