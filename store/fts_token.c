/*
 * fts_token.c - the pure half of full-text search: tokenizer, normaliser,
 * stemmer wrapper and query trees (store/fts.h says what comes out; this
 * says how).  Nothing here touches kv, so the fuzz target links it alone.
 *
 * One pass over the bytes, one code point at a time, in bounded memory:
 * the current word and the current span (for the whole-address token)
 * are each a struct buf capped at FTS_TOKEN_MAX, whatever the input
 * length.  Invalid UTF-8 (overlong forms, surrogates, values past
 * U+10FFFF, truncated sequences) separates words, one byte at a time, so
 * a bad byte never joins or hides its neighbours.
 *
 * Classification and folding come from two sorted tables of code point
 * ranges (no ICU here): class_tab says what a code point is (word
 * character, dropped combining mark, ideograph; absent = separator);
 * fold_tab says what a word character becomes.  Invariants, kept by the
 * tables and checked exhaustively by t/unit/fts_test.c: every fold
 * result is made of word characters that fold to themselves, so a token
 * tokenizes to itself; every token is valid UTF-8 of 1..FTS_TOKEN_MAX
 * bytes.  A word is cut only between whole fold results, so the cut form
 * of a word is always a prefix of its full form, and a query cuts it the
 * same way.  Glibc's case tables agree with fold_tab wherever both sides
 * are word characters (checked by the same test).
 */
#include <stdlib.h>
#include <string.h>

#include <libstemmer.h>

#include "common/buf.h"
#include "common/common.h"
#include "common/xalloc.h"
#include "store/fts.h"

enum cp_class { C_SEP, C_WORD, C_MARK, C_IDEO };

static const struct class_range {
	uint32_t lo, hi;
	uint8_t cls;
} class_tab[] = {
	/* ASCII is classified in code; Latin-1 and on */
	{ 0x00AA, 0x00AA, C_WORD }, { 0x00B2, 0x00B3, C_WORD },
	{ 0x00B5, 0x00B5, C_WORD }, { 0x00B9, 0x00BA, C_WORD },
	{ 0x00C0, 0x00D6, C_WORD }, { 0x00D8, 0x00F6, C_WORD },
	{ 0x00F8, 0x02AF, C_WORD },	/* Latin Extended-A, -B, IPA */
	{ 0x0300, 0x036F, C_MARK },	/* combining diacritics */
	/* Greek and Coptic */
	{ 0x0370, 0x0373, C_WORD }, { 0x0376, 0x0377, C_WORD },
	{ 0x037B, 0x037D, C_WORD }, { 0x037F, 0x037F, C_WORD },
	{ 0x0386, 0x0386, C_WORD }, { 0x0388, 0x038A, C_WORD },
	{ 0x038C, 0x038C, C_WORD }, { 0x038E, 0x03A1, C_WORD },
	{ 0x03A3, 0x03F5, C_WORD },
	/* Cyrillic, Cyrillic Supplement */
	{ 0x03F7, 0x0481, C_WORD }, { 0x0483, 0x0489, C_MARK },
	{ 0x048A, 0x052F, C_WORD },
	/* Armenian */
	{ 0x0531, 0x0556, C_WORD }, { 0x0560, 0x0588, C_WORD },
	/* Hebrew: points and cantillation dropped */
	{ 0x0591, 0x05BD, C_MARK }, { 0x05BF, 0x05BF, C_MARK },
	{ 0x05C1, 0x05C2, C_MARK }, { 0x05C4, 0x05C5, C_MARK },
	{ 0x05C7, 0x05C7, C_MARK }, { 0x05D0, 0x05EA, C_WORD },
	{ 0x05EF, 0x05F2, C_WORD },
	/* Arabic: harakat dropped */
	{ 0x0610, 0x061A, C_MARK }, { 0x0620, 0x064A, C_WORD },
	{ 0x064B, 0x065F, C_MARK }, { 0x0660, 0x0669, C_WORD },
	{ 0x066E, 0x066F, C_WORD }, { 0x0670, 0x0670, C_MARK },
	{ 0x0671, 0x06D3, C_WORD }, { 0x06D5, 0x06D5, C_WORD },
	{ 0x06D6, 0x06DC, C_MARK }, { 0x06DF, 0x06E4, C_MARK },
	{ 0x06E5, 0x06E6, C_WORD }, { 0x06E7, 0x06E8, C_MARK },
	{ 0x06EA, 0x06ED, C_MARK }, { 0x06EE, 0x06FC, C_WORD },
	{ 0x06FF, 0x06FF, C_WORD },
	/* Indic scripts: their vowel signs are letters, kept; dandas split */
	{ 0x0900, 0x0963, C_WORD }, { 0x0966, 0x096F, C_WORD },
	{ 0x0971, 0x0DFF, C_WORD },
	/* Thai, Lao */
	{ 0x0E01, 0x0E3A, C_WORD }, { 0x0E40, 0x0E4E, C_WORD },
	{ 0x0E50, 0x0E59, C_WORD }, { 0x0E81, 0x0EDF, C_WORD },
	/* Georgian, Hangul Jamo */
	{ 0x10A0, 0x10FA, C_WORD }, { 0x10FC, 0x11FF, C_WORD },
	/* Latin Extended Additional (Vietnamese and others) */
	{ 0x1E00, 0x1EFF, C_WORD },
	/* Greek Extended (polytonic), spacing accents left out */
	{ 0x1F00, 0x1F15, C_WORD }, { 0x1F18, 0x1F1D, C_WORD },
	{ 0x1F20, 0x1F45, C_WORD }, { 0x1F48, 0x1F4D, C_WORD },
	{ 0x1F50, 0x1F57, C_WORD }, { 0x1F59, 0x1F59, C_WORD },
	{ 0x1F5B, 0x1F5B, C_WORD }, { 0x1F5D, 0x1F5D, C_WORD },
	{ 0x1F5F, 0x1F7D, C_WORD }, { 0x1F80, 0x1FB4, C_WORD },
	{ 0x1FB6, 0x1FBC, C_WORD }, { 0x1FBE, 0x1FBE, C_WORD },
	{ 0x1FC2, 0x1FC4, C_WORD }, { 0x1FC6, 0x1FCC, C_WORD },
	{ 0x1FD0, 0x1FD3, C_WORD }, { 0x1FD6, 0x1FDB, C_WORD },
	{ 0x1FE0, 0x1FEC, C_WORD }, { 0x1FF2, 0x1FF4, C_WORD },
	{ 0x1FF6, 0x1FFC, C_WORD },
	/* kana and CJK ideographs: one token each */
	{ 0x3041, 0x3096, C_IDEO }, { 0x3099, 0x309A, C_MARK },
	{ 0x309D, 0x309F, C_IDEO }, { 0x30A1, 0x30FA, C_IDEO },
	{ 0x30FC, 0x30FF, C_IDEO }, { 0x3400, 0x4DBF, C_IDEO },
	{ 0x4E00, 0x9FFF, C_IDEO },
	{ 0xAC00, 0xD7A3, C_WORD },	/* Hangul: Korean has spaces */
	{ 0xF900, 0xFAFF, C_IDEO },
	/* fullwidth digits and letters, halfwidth katakana */
	{ 0xFF10, 0xFF19, C_WORD }, { 0xFF21, 0xFF3A, C_WORD },
	{ 0xFF41, 0xFF5A, C_WORD }, { 0xFF66, 0xFF9D, C_IDEO },
	{ 0x20000, 0x3134F, C_IDEO },	/* CJK extensions B-G */
};

enum fold_kind {
	F_STR,	/* every code point of the range becomes str */
	F_DELTA,	/* cp + delta */
	F_EVEN,	/* upper/lower pairs, upper even: even cp + 1 */
	F_ODD,	/* the same with upper odd */
};

static const struct fold_range {
	uint32_t lo, hi;
	uint8_t kind;
	int32_t delta;
	const char *str;
} fold_tab[] = {
#define S(lo, hi, s) { lo, hi, F_STR, 0, s }
#define D(lo, hi, d) { lo, hi, F_DELTA, d, NULL }
#define E(lo, hi) { lo, hi, F_EVEN, 0, NULL }
#define O(lo, hi) { lo, hi, F_ODD, 0, NULL }
	/* Latin-1 Supplement */
	S(0x00AA, 0x00AA, "a"), S(0x00B2, 0x00B2, "2"), S(0x00B3, 0x00B3, "3"),
	S(0x00B5, 0x00B5, "\u03bc"), S(0x00B9, 0x00B9, "1"),
	S(0x00BA, 0x00BA, "o"),
	S(0x00C0, 0x00C5, "a"), S(0x00C6, 0x00C6, "ae"), S(0x00C7, 0x00C7, "c"),
	S(0x00C8, 0x00CB, "e"), S(0x00CC, 0x00CF, "i"), S(0x00D0, 0x00D0, "d"),
	S(0x00D1, 0x00D1, "n"), S(0x00D2, 0x00D6, "o"), S(0x00D8, 0x00D8, "o"),
	S(0x00D9, 0x00DC, "u"), S(0x00DD, 0x00DD, "y"), S(0x00DE, 0x00DE, "th"),
	S(0x00DF, 0x00DF, "ss"), S(0x00E0, 0x00E5, "a"),
	S(0x00E6, 0x00E6, "ae"),
	S(0x00E7, 0x00E7, "c"), S(0x00E8, 0x00EB, "e"), S(0x00EC, 0x00EF, "i"),
	S(0x00F0, 0x00F0, "d"), S(0x00F1, 0x00F1, "n"), S(0x00F2, 0x00F6, "o"),
	S(0x00F8, 0x00F8, "o"), S(0x00F9, 0x00FC, "u"), S(0x00FD, 0x00FD, "y"),
	S(0x00FE, 0x00FE, "th"), S(0x00FF, 0x00FF, "y"),
	/* Latin Extended-A */
	S(0x0100, 0x0105, "a"), S(0x0106, 0x010D, "c"), S(0x010E, 0x0111, "d"),
	S(0x0112, 0x011B, "e"), S(0x011C, 0x0123, "g"), S(0x0124, 0x0127, "h"),
	S(0x0128, 0x0131, "i"), S(0x0132, 0x0133, "ij"), S(0x0134, 0x0135, "j"),
	S(0x0136, 0x0138, "k"), S(0x0139, 0x0142, "l"), S(0x0143, 0x014B, "n"),
	S(0x014C, 0x0151, "o"), S(0x0152, 0x0153, "oe"), S(0x0154, 0x0159, "r"),
	S(0x015A, 0x0161, "s"), S(0x0162, 0x0167, "t"), S(0x0168, 0x0173, "u"),
	S(0x0174, 0x0175, "w"), S(0x0176, 0x0178, "y"), S(0x0179, 0x017E, "z"),
	S(0x017F, 0x017F, "s"),
	/* Latin Extended-B: letters with diacritics to their base; the
	 * uppercase of IPA-like letters to their lowercase */
	S(0x0180, 0x0183, "b"), E(0x0184, 0x0185),
	D(0x0186, 0x0186, 0x0254 - 0x0186),
	S(0x0187, 0x0188, "c"), S(0x0189, 0x018C, "d"),
	D(0x018E, 0x018E, 0x01DD - 0x018E), D(0x018F, 0x018F, 0x0259 - 0x018F),
	D(0x0190, 0x0190, 0x025B - 0x0190), S(0x0191, 0x0192, "f"),
	S(0x0193, 0x0193, "g"), D(0x0194, 0x0194, 0x0263 - 0x0194),
	S(0x0195, 0x0195, "hv"), D(0x0196, 0x0196, 0x0269 - 0x0196),
	S(0x0197, 0x0197, "i"), S(0x0198, 0x0199, "k"), S(0x019A, 0x019A, "l"),
	D(0x019C, 0x019C, 0x026F - 0x019C), S(0x019D, 0x019E, "n"),
	S(0x019F, 0x01A1, "o"), E(0x01A2, 0x01A3), S(0x01A4, 0x01A5, "p"),
	D(0x01A6, 0x01A6, 0x0280 - 0x01A6), O(0x01A7, 0x01A8),
	D(0x01A9, 0x01A9, 0x0283 - 0x01A9), S(0x01AB, 0x01AE, "t"),
	S(0x01AF, 0x01B0, "u"), D(0x01B1, 0x01B1, 0x028A - 0x01B1),
	S(0x01B2, 0x01B2, "v"), S(0x01B3, 0x01B4, "y"), S(0x01B5, 0x01B6, "z"),
	D(0x01B7, 0x01B7, 0x0292 - 0x01B7), E(0x01B8, 0x01B9),
	E(0x01BC, 0x01BD), S(0x01C4, 0x01C6, "dz"), S(0x01C7, 0x01C9, "lj"),
	S(0x01CA, 0x01CC, "nj"), S(0x01CD, 0x01CE, "a"), S(0x01CF, 0x01D0, "i"),
	S(0x01D1, 0x01D2, "o"), S(0x01D3, 0x01DC, "u"), S(0x01DE, 0x01E1, "a"),
	S(0x01E2, 0x01E3, "ae"), S(0x01E4, 0x01E7, "g"), S(0x01E8, 0x01E9, "k"),
	S(0x01EA, 0x01ED, "o"), S(0x01EE, 0x01EF, "\u0292"),
	S(0x01F0, 0x01F0, "j"), S(0x01F1, 0x01F3, "dz"), S(0x01F4, 0x01F5, "g"),
	S(0x01F6, 0x01F6, "hv"), D(0x01F7, 0x01F7, 0x01BF - 0x01F7),
	S(0x01F8, 0x01F9, "n"), S(0x01FA, 0x01FB, "a"), S(0x01FC, 0x01FD, "ae"),
	S(0x01FE, 0x01FF, "o"), S(0x0200, 0x0203, "a"), S(0x0204, 0x0207, "e"),
	S(0x0208, 0x020B, "i"), S(0x020C, 0x020F, "o"), S(0x0210, 0x0213, "r"),
	S(0x0214, 0x0217, "u"), S(0x0218, 0x0219, "s"), S(0x021A, 0x021B, "t"),
	E(0x021C, 0x021D), S(0x021E, 0x021F, "h"), S(0x0220, 0x0220, "n"),
	S(0x0221, 0x0221, "d"), E(0x0222, 0x0223), S(0x0224, 0x0225, "z"),
	S(0x0226, 0x0227, "a"), S(0x0228, 0x0229, "e"), S(0x022A, 0x0231, "o"),
	S(0x0232, 0x0233, "y"), S(0x0234, 0x0234, "l"), S(0x0235, 0x0235, "n"),
	S(0x0236, 0x0236, "t"), S(0x0237, 0x0237, "j"), S(0x0238, 0x0238, "db"),
	S(0x0239, 0x0239, "qp"), S(0x023A, 0x023A, "a"), S(0x023B, 0x023C, "c"),
	S(0x023D, 0x023D, "l"), S(0x023E, 0x023E, "t"), S(0x023F, 0x023F, "s"),
	S(0x0240, 0x0240, "z"), O(0x0241, 0x0242), S(0x0243, 0x0243, "b"),
	S(0x0244, 0x0244, "u"), D(0x0245, 0x0245, 0x028C - 0x0245),
	S(0x0246, 0x0247, "e"), S(0x0248, 0x0249, "j"), S(0x024A, 0x024B, "q"),
	S(0x024C, 0x024D, "r"), S(0x024E, 0x024F, "y"),
	/* IPA: the lowercase of hooked letters above, to their base */
	S(0x0253, 0x0253, "b"), S(0x0256, 0x0257, "d"), S(0x0260, 0x0260, "g"),
	S(0x0268, 0x0268, "i"), S(0x0272, 0x0272, "n"), S(0x0275, 0x0275, "o"),
	S(0x0288, 0x0288, "t"), S(0x0289, 0x0289, "u"), S(0x028B, 0x028B, "v"),
	/* Greek: lowercase, tonos and dialytika stripped, final sigma */
	E(0x0370, 0x0373), E(0x0376, 0x0377),
	D(0x037F, 0x037F, 0x03F3 - 0x037F), S(0x0386, 0x0386, "\u03b1"),
	S(0x0388, 0x0388, "\u03b5"), S(0x0389, 0x0389, "\u03b7"),
	S(0x038A, 0x038A, "\u03b9"), S(0x038C, 0x038C, "\u03bf"),
	S(0x038E, 0x038E, "\u03c5"), S(0x038F, 0x038F, "\u03c9"),
	S(0x0390, 0x0390, "\u03b9"), D(0x0391, 0x03A1, 0x20),
	D(0x03A3, 0x03A9, 0x20), S(0x03AA, 0x03AA, "\u03b9"),
	S(0x03AB, 0x03AB, "\u03c5"), S(0x03AC, 0x03AC, "\u03b1"),
	S(0x03AD, 0x03AD, "\u03b5"), S(0x03AE, 0x03AE, "\u03b7"),
	S(0x03AF, 0x03AF, "\u03b9"), S(0x03B0, 0x03B0, "\u03c5"),
	S(0x03C2, 0x03C2, "\u03c3"), S(0x03CA, 0x03CA, "\u03b9"),
	S(0x03CB, 0x03CB, "\u03c5"), S(0x03CC, 0x03CC, "\u03bf"),
	S(0x03CD, 0x03CD, "\u03c5"), S(0x03CE, 0x03CE, "\u03c9"),
	D(0x03CF, 0x03CF, 0x03D7 - 0x03CF), S(0x03D0, 0x03D0, "\u03b2"),
	S(0x03D1, 0x03D1, "\u03b8"), S(0x03D2, 0x03D4, "\u03c5"),
	S(0x03D5, 0x03D5, "\u03c6"), S(0x03D6, 0x03D6, "\u03c0"),
	E(0x03D8, 0x03EF), S(0x03F0, 0x03F0, "\u03ba"),
	S(0x03F1, 0x03F1, "\u03c1"), S(0x03F2, 0x03F2, "\u03c3"),
	S(0x03F4, 0x03F4, "\u03b8"), S(0x03F5, 0x03F5, "\u03b5"),
	O(0x03F7, 0x03F8), S(0x03F9, 0x03F9, "\u03c3"), E(0x03FA, 0x03FB),
	D(0x03FD, 0x03FF, 0x037B - 0x03FD),
	/* Cyrillic: lowercase; ё and ѐ to е, ѝ to и; other letters stay */
	S(0x0400, 0x0401, "\u0435"), D(0x0402, 0x040C, 0x50),
	S(0x040D, 0x040D, "\u0438"), D(0x040E, 0x040F, 0x50),
	D(0x0410, 0x042F, 0x20), S(0x0450, 0x0451, "\u0435"),
	S(0x045D, 0x045D, "\u0438"), E(0x0460, 0x0481), E(0x048A, 0x04BF),
	D(0x04C0, 0x04C0, 0x04CF - 0x04C0), O(0x04C1, 0x04CE),
	E(0x04D0, 0x052F),
	/* Armenian */
	D(0x0531, 0x0556, 0x30),
	/* Arabic-Indic, Persian and Devanagari digits */
	D(0x0660, 0x0669, 0x30 - 0x0660), D(0x06F0, 0x06F9, 0x30 - 0x06F0),
	D(0x0966, 0x096F, 0x30 - 0x0966),
	/* Latin Extended Additional */
	S(0x1E00, 0x1E01, "a"), S(0x1E02, 0x1E07, "b"), S(0x1E08, 0x1E09, "c"),
	S(0x1E0A, 0x1E13, "d"), S(0x1E14, 0x1E1D, "e"), S(0x1E1E, 0x1E1F, "f"),
	S(0x1E20, 0x1E21, "g"), S(0x1E22, 0x1E2B, "h"), S(0x1E2C, 0x1E2F, "i"),
	S(0x1E30, 0x1E35, "k"), S(0x1E36, 0x1E3D, "l"), S(0x1E3E, 0x1E43, "m"),
	S(0x1E44, 0x1E4B, "n"), S(0x1E4C, 0x1E53, "o"), S(0x1E54, 0x1E57, "p"),
	S(0x1E58, 0x1E5F, "r"), S(0x1E60, 0x1E69, "s"), S(0x1E6A, 0x1E71, "t"),
	S(0x1E72, 0x1E7B, "u"), S(0x1E7C, 0x1E7F, "v"), S(0x1E80, 0x1E89, "w"),
	S(0x1E8A, 0x1E8D, "x"), S(0x1E8E, 0x1E8F, "y"), S(0x1E90, 0x1E95, "z"),
	S(0x1E96, 0x1E96, "h"), S(0x1E97, 0x1E97, "t"), S(0x1E98, 0x1E98, "w"),
	S(0x1E99, 0x1E99, "y"), S(0x1E9A, 0x1E9A, "a"), S(0x1E9B, 0x1E9D, "s"),
	S(0x1E9E, 0x1E9E, "ss"), S(0x1E9F, 0x1E9F, "d"),
	S(0x1EA0, 0x1EB7, "a"), S(0x1EB8, 0x1EC7, "e"), S(0x1EC8, 0x1ECB, "i"),
	S(0x1ECC, 0x1EE3, "o"), S(0x1EE4, 0x1EF1, "u"), S(0x1EF2, 0x1EF9, "y"),
	S(0x1EFA, 0x1EFB, "ll"), S(0x1EFC, 0x1EFD, "v"), S(0x1EFE, 0x1EFF, "y"),
	/* Greek Extended: to the plain lowercase letter */
	S(0x1F00, 0x1F0F, "\u03b1"), S(0x1F10, 0x1F1D, "\u03b5"),
	S(0x1F20, 0x1F2F, "\u03b7"), S(0x1F30, 0x1F3F, "\u03b9"),
	S(0x1F40, 0x1F4D, "\u03bf"), S(0x1F50, 0x1F5F, "\u03c5"),
	S(0x1F60, 0x1F6F, "\u03c9"), S(0x1F70, 0x1F71, "\u03b1"),
	S(0x1F72, 0x1F73, "\u03b5"), S(0x1F74, 0x1F75, "\u03b7"),
	S(0x1F76, 0x1F77, "\u03b9"), S(0x1F78, 0x1F79, "\u03bf"),
	S(0x1F7A, 0x1F7B, "\u03c5"), S(0x1F7C, 0x1F7D, "\u03c9"),
	S(0x1F80, 0x1F8F, "\u03b1"), S(0x1F90, 0x1F9F, "\u03b7"),
	S(0x1FA0, 0x1FAF, "\u03c9"), S(0x1FB0, 0x1FBC, "\u03b1"),
	S(0x1FBE, 0x1FBE, "\u03b9"), S(0x1FC2, 0x1FC7, "\u03b7"),
	S(0x1FC8, 0x1FC9, "\u03b5"), S(0x1FCA, 0x1FCC, "\u03b7"),
	S(0x1FD0, 0x1FDB, "\u03b9"), S(0x1FE0, 0x1FE3, "\u03c5"),
	S(0x1FE4, 0x1FE5, "\u03c1"), S(0x1FE6, 0x1FEB, "\u03c5"),
	S(0x1FEC, 0x1FEC, "\u03c1"), S(0x1FF2, 0x1FF7, "\u03c9"),
	S(0x1FF8, 0x1FF9, "\u03bf"), S(0x1FFA, 0x1FFC, "\u03c9"),
	/* fullwidth ASCII */
	D(0xFF10, 0xFF19, 0x30 - 0xFF10), D(0xFF21, 0xFF3A, 0x61 - 0xFF21),
	D(0xFF41, 0xFF5A, 0x61 - 0xFF41),
#undef S
#undef D
#undef E
#undef O
};

void
fts_token_selfcheck(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(class_tab); i++) {
		ASSERT(class_tab[i].lo >= 0x80 &&
		    class_tab[i].lo <= class_tab[i].hi);
		ASSERT(i == 0 || class_tab[i - 1].hi < class_tab[i].lo);
	}
	for (size_t i = 0; i < ARRAY_SIZE(fold_tab); i++) {
		ASSERT(fold_tab[i].lo >= 0x80 &&
		    fold_tab[i].lo <= fold_tab[i].hi);
		ASSERT(i == 0 || fold_tab[i - 1].hi < fold_tab[i].lo);
		ASSERT((fold_tab[i].kind == F_STR) ==
		    (fold_tab[i].str != NULL));
	}
}

static enum cp_class
classify(uint32_t cp)
{
	size_t lo = 0, hi = ARRAY_SIZE(class_tab);

	if (cp < 0x80) {
		if ((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') ||
		    (cp >= 'A' && cp <= 'Z'))
			return C_WORD;
		return C_SEP;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (cp < class_tab[mid].lo)
			hi = mid;
		else if (cp > class_tab[mid].hi)
			lo = mid + 1;
		else
			return (enum cp_class)class_tab[mid].cls;
	}
	return C_SEP;
}

/* utf8_put - encode a valid code point; returns its length (1..4) */
static size_t
utf8_put(uint32_t cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xC0 | cp >> 6);
		out[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xE0 | cp >> 12);
		out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (unsigned char)(0xF0 | cp >> 18);
	out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

#define CP_BAD UINT32_MAX

/*
 * utf8_get - decode one code point at p (len >= 1): bytes used, *cp_r the
 * code point or CP_BAD (one byte used) for anything RFC 3629 forbids
 */
static size_t
utf8_get(const unsigned char *p, size_t len, uint32_t *cp_r)
{
	uint32_t cp;
	size_t n;
	unsigned char lo = 0x80, hi = 0xBF;

	*cp_r = CP_BAD;
	if (p[0] < 0x80) {
		*cp_r = p[0];
		return 1;
	}
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		n = 2;
		cp = p[0] & 0x1Fu;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		n = 3;
		cp = p[0] & 0x0Fu;
		if (p[0] == 0xE0)
			lo = 0xA0;	/* overlong */
		else if (p[0] == 0xED)
			hi = 0x9F;	/* surrogates */
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		n = 4;
		cp = p[0] & 0x07u;
		if (p[0] == 0xF0)
			lo = 0x90;	/* overlong */
		else if (p[0] == 0xF4)
			hi = 0x8F;	/* past U+10FFFF */
	} else {
		return 1;
	}
	if (len < n || p[1] < lo || p[1] > hi)
		return 1;
	for (size_t i = 1; i < n; i++) {
		if (i > 1 && (p[i] < 0x80 || p[i] > 0xBF))
			return 1;
		cp = cp << 6 | (p[i] & 0x3Fu);
	}
	*cp_r = cp;
	return n;
}

/*
 * fold - the folded UTF-8 of word character cp into out (room for 8);
 * returns its length
 */
static size_t
fold(uint32_t cp, unsigned char out[8])
{
	size_t lo = 0, hi = ARRAY_SIZE(fold_tab);

	if (cp < 0x80) {
		out[0] = (unsigned char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
		return 1;
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct fold_range *f = &fold_tab[mid];

		if (cp < f->lo) {
			hi = mid;
		} else if (cp > f->hi) {
			lo = mid + 1;
		} else {
			switch ((enum fold_kind)f->kind) {
			case F_STR: {
				size_t n = strlen(f->str);

				ASSERT(n <= 8);
				memcpy(out, f->str, n);
				return n;
			}
			case F_DELTA:
				cp = (uint32_t)((int32_t)cp + f->delta);
				break;
			case F_EVEN:
				cp += (cp & 1) == 0;
				break;
			case F_ODD:
				cp += (cp & 1) == 1;
				break;
			}
			break;
		}
	}
	return utf8_put(cp, out);
}

static bool
is_joiner(uint32_t cp)
{
	return cp == '.' || cp == '-' || cp == '_' || cp == '+' || cp == '@' ||
	    cp == '\'' || cp == 0x2019;
}

struct tok {
	fts_token_fn *fn;
	void *ctx;
	size_t max, n;
	bool stop;
	bool in_word;		/* the last code point continued a word */
	struct buf word;	/* the current word, folded */
	bool word_full;		/* cut at FTS_TOKEN_MAX: rest ignored */
	struct buf span;	/* the words and joiners of the span */
	bool span_full;
	unsigned n_at;		/* '@' joining two words in the span */
	bool domain_ok;		/* joiners after '@' all '.' or '-' */
	uint32_t pending;	/* a joiner after a word, not yet followed */
};

static void
emit(struct tok *t, const struct buf *b)
{
	if (t->stop || b->len == 0)
		return;
	t->n++;
	if (t->fn(t->ctx, (const char *)b->data, b->len) != 0 ||
	    t->n >= t->max)
		t->stop = true;
}

/*
 * add - append fold bytes; a piece that does not fit ends the token.
 * Room already allocated (the usual case after the first word) is
 * filled in place: this runs for every character of every message.
 */
static inline void
add(struct buf *b, bool *full, const unsigned char *p, size_t n)
{
	if (*full)
		return;
	if (b->data != NULL && n <= b->cap - b->len) {	/* cap <= max */
		memcpy(b->data + b->len, p, n);
		b->len += n;
		b->data[b->len] = '\0';
	} else if (buf_append(b, p, n) < 0) {
		*full = true;
	}
}

static void
end_word(struct tok *t)
{
	emit(t, &t->word);
	buf_reset(&t->word);
	t->word_full = false;
}

static void
end_span(struct tok *t)
{
	end_word(t);
	if (t->n_at == 1 && t->domain_ok && !t->span_full)
		emit(t, &t->span);
	buf_reset(&t->span);
	t->span_full = false;
	t->n_at = 0;
	t->domain_ok = false;
	t->pending = 0;
	t->in_word = false;
}

static void
word_char(struct tok *t, uint32_t cp)
{
	unsigned char f[8];
	size_t n;

	if (t->pending != 0) {
		unsigned char j = t->pending == 0x2019 ? '\'' :
		    (unsigned char)t->pending;

		if (j == '@') {
			t->n_at++;
			t->domain_ok = true;
		} else if (t->n_at > 0 && j != '.' && j != '-') {
			t->domain_ok = false;
		}
		add(&t->span, &t->span_full, &j, 1);
		t->pending = 0;
	}
	n = fold(cp, f);
	add(&t->word, &t->word_full, f, n);
	add(&t->span, &t->span_full, f, n);
	t->in_word = true;
}

size_t
fts_tokenize(const void *text, size_t len, size_t max_tokens,
    fts_token_fn *fn, void *ctx)
{
	const unsigned char *p = text;
	struct tok t = {
		.fn = fn, .ctx = ctx, .max = max_tokens,
		.word = BUF_INIT(FTS_TOKEN_MAX),
		.span = BUF_INIT(FTS_TOKEN_MAX),
	};
	size_t off = 0;

	if (max_tokens == 0)
		return 0;
	while (off < len && !t.stop) {
		uint32_t cp;
		size_t used = utf8_get(p + off, len - off, &cp);
		enum cp_class cls = cp == CP_BAD ? C_SEP : classify(cp);

		off += used;
		if (cls == C_WORD) {
			word_char(&t, cp);
		} else if (cls == C_MARK) {
			/* dropped; it neither starts nor ends a word */
		} else if (cp != CP_BAD && is_joiner(cp) && t.in_word &&
		    t.pending == 0) {
			end_word(&t);
			t.pending = cp;
			t.in_word = false;
		} else {
			end_span(&t);
			if (cls == C_IDEO) {
				unsigned char f[5];
				struct buf one = {
					.data = f, .len = utf8_put(cp, f)
				};

				f[one.len] = '\0';	/* tok[len] is NUL */
				emit(&t, &one);
			}
		}
	}
	end_span(&t);
	buf_free(&t.word);
	buf_free(&t.span);
	return t.n;
}

static int
list_token(void *ctx, const char *tok, size_t len)
{
	buf_add(ctx, tok, len + 1);	/* with its NUL */
	return 0;
}

size_t
fts_token_list(const void *text, size_t len, size_t max, struct buf *out)
{
	return fts_tokenize(text, len, max + 1, list_token, out);
}

/* ---- stemming ---- */

struct fts_stemmer {
	struct sb_stemmer *sb;	/* NULL: "none" */
};

int
fts_stemmer_new(const char *language, struct fts_stemmer **st_r,
    struct buf *err)
{
	struct sb_stemmer *sb = NULL;

	*st_r = NULL;
	if (language == NULL)
		language = "english";
	if (strcmp(language, "none") != 0) {
		/* NULL encoding: UTF-8 */
		sb = sb_stemmer_new(language, NULL);
		if (sb == NULL) {
			buf_addf(err, "fts: no Snowball stemmer for language "
			    "\"%s\"", language);
			return -1;
		}
	}
	*st_r = xmalloc(sizeof(**st_r));
	(*st_r)->sb = sb;
	return 0;
}

void
fts_stemmer_free(struct fts_stemmer **st)
{
	if (*st == NULL)
		return;
	if ((*st)->sb != NULL)
		sb_stemmer_delete((*st)->sb);
	free(*st);
	*st = NULL;
}

static bool
is_utf8(const unsigned char *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		uint32_t cp;

		off += utf8_get(p + off, len - off, &cp);
		if (cp == CP_BAD)
			return false;
	}
	return true;
}

/* is_stemmable - no digit, no '@': numbers and addresses stay as they are */
static bool
is_stemmable(const char *tok, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (tok[i] == '@' || is_ascii_digit((unsigned char)tok[i]))
			return false;
	return true;
}

void
fts_stem(struct fts_stemmer *st, const char *tok, size_t len,
    struct buf *out)
{
	const sb_symbol *s;
	size_t n;

	buf_reset(out);
	if (st->sb == NULL || len > FTS_TOKEN_MAX || !is_stemmable(tok, len)) {
		buf_add(out, tok, len);
		return;
	}
	s = sb_stemmer_stem(st->sb, (const sb_symbol *)tok, (int)len);
	if (s == NULL)
		PANIC("sb_stemmer_stem: out of memory");
	n = (size_t)sb_stemmer_length(st->sb);
	/* a stem is never worse than the word: else keep the word */
	if (n == 0 || n > FTS_TOKEN_MAX || !is_utf8(s, n))
		buf_add(out, tok, len);
	else
		buf_add(out, s, n);
}

/* ---- query trees ---- */

struct fts_query *
fts_query_term(unsigned fields, const char *text, size_t len, bool prefix)
{
	struct fts_query *q = xcalloc(1, sizeof(*q) + len + 1);
	char *copy = (char *)(q + 1);

	if (len > 0)
		memcpy(copy, text, len);
	q->op = FTS_Q_TERM;
	q->fields = fields;
	q->text = copy;
	q->len = len;
	q->prefix = prefix;
	return q;
}

struct fts_query *
fts_query_op(enum fts_query_op op)
{
	struct fts_query *q = xcalloc(1, sizeof(*q));

	q->op = op;
	return q;
}

struct fts_query *
fts_query_add(struct fts_query *parent, struct fts_query *child)
{
	struct fts_query **tail = &parent->child;

	while (*tail != NULL)
		tail = &(*tail)->next;
	*tail = child;
	return parent;
}

void
fts_query_free(struct fts_query **q)
{
	struct fts_query *list;

	if (*q == NULL)
		return;
	/* iterative: splice each node's children into the list */
	list = (*q)->child;
	free(*q);
	*q = NULL;
	while (list != NULL) {
		struct fts_query *n = list;

		if (n->child != NULL) {
			struct fts_query *last = n->child;

			while (last->next != NULL)
				last = last->next;
			last->next = n->next;
			list = n->child;
		} else {
			list = n->next;
		}
		free(n);
	}
}

static int
query_check(const struct fts_query *q, unsigned depth, unsigned *nodes,
    struct buf *err)
{
	if (depth > FTS_QUERY_DEPTH_MAX) {
		buf_addf(err, "fts: query nested deeper than %u",
		    FTS_QUERY_DEPTH_MAX);
		return -1;
	}
	for (; q != NULL; q = q->next) {
		if (++*nodes > FTS_QUERY_NODES_MAX) {
			buf_addf(err, "fts: query of more than %u nodes",
			    FTS_QUERY_NODES_MAX);
			return -1;
		}
		switch (q->op) {
		case FTS_Q_TERM:
			if (q->fields == 0 || (q->fields & ~FTS_F_ANY) != 0 ||
			    (q->text == NULL && q->len != 0) ||
			    q->child != NULL) {
				buf_add_str(err, "fts: bad query term");
				return -1;
			}
			continue;
		case FTS_Q_NOT:
			if (q->child == NULL || q->child->next != NULL) {
				buf_add_str(err, "fts: NOT needs one operand");
				return -1;
			}
			break;
		case FTS_Q_AND:
		case FTS_Q_OR:
			break;
		default:
			buf_addf(err, "fts: unknown query op %d", (int)q->op);
			return -1;
		}
		if (query_check(q->child, depth + 1, nodes, err) < 0)
			return -1;
	}
	return 0;
}

int
fts_query_check(const struct fts_query *q, struct buf *err)
{
	unsigned nodes = 0;

	if (q == NULL || q->next != NULL) {
		buf_add_str(err, "fts: a query is one root node");
		return -1;
	}
	return query_check(q, 1, &nodes, err);
}
