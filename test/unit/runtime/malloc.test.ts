import { environmentWithMallocSettings, MALLOC_SETTINGS } from "../../../lib/runtime/malloc";

describe("environmentWithMallocSettings", () => {
  it("adds the malloc settings on Linux when nothing sets them", () => {
    expect(environmentWithMallocSettings({ PATH: "/usr/bin" }, "linux")).toEqual({
      PATH: "/usr/bin",
      MALLOC_ARENA_MAX: "2",
      MALLOC_MMAP_THRESHOLD_: "4194304",
    });
  });

  it("adds only what the operator did not set, as a variable or a tunable", () => {
    expect(environmentWithMallocSettings({ MALLOC_ARENA_MAX: "8" }, "linux")).toEqual({
      MALLOC_ARENA_MAX: "8",
      MALLOC_MMAP_THRESHOLD_: "4194304",
    });
    expect(
      environmentWithMallocSettings(
        { GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=65536" },
        "linux",
      ),
    ).toEqual({ GLIBC_TUNABLES: "glibc.malloc.mmap_threshold=65536", MALLOC_ARENA_MAX: "2" });
    expect(environmentWithMallocSettings({ ...MALLOC_SETTINGS }, "linux")).toBeUndefined();
  });

  it("leaves other systems alone", () => {
    expect(environmentWithMallocSettings({}, "darwin")).toBeUndefined();
    expect(environmentWithMallocSettings({}, "win32")).toBeUndefined();
  });
});
