/*
 * A stand-in bcryptprimitives.dll for Wine 8.0, which lacks one.
 *
 * Rust's standard library (1.78 and later) imports ProcessPrng from
 * bcryptprimitives.dll to seed its hash maps; without this DLL every Rust
 * program exits at load with status 53 under Wine 8.0. This one exports
 * ProcessPrng and forwards it to advapi32's RtlGenRandom (SystemFunction036).
 * Newer Wine ships the real DLL. For tests only, never for distribution.
 *
 * Build: x86_64-w64-mingw32-gcc -shared -O2 -s -o bcryptprimitives.dll \
 *            bcryptprimitives.c -ladvapi32
 * Install: copy into $WINEPREFIX/drive_c/windows/system32/.
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T length)
{
    while (length > 0) {
        ULONG chunk = length > 0x10000000 ? 0x10000000 : (ULONG)length;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        length -= chunk;
    }
    return TRUE;
}
