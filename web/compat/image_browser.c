/* image_browser.c - the browser build's stand-ins for the decoders and the
 * PNG writer that need libpng, libjpeg and libwebp (core/png.c, jpeg.c,
 * webp.c are not compiled for wasm): the page decodes PNG, JPEG and WebP with
 * the browser's own decoders and hands interp the pixels (web_image_set);
 * BMP and GIF still go through interp's decoders. Nothing is written to files.
 */
#include "../../core/error.h"
#include "../../core/image.h"

struct image *image_decode_png(const void *buf, size_t len, const char *name)
{
    (void)buf, (void)len;
    error_set(ERR_INPUT, name, "PNG is decoded by the browser in this build");
    return NULL;
}

struct image *image_decode_jpeg(const void *buf, size_t len, const char *name)
{
    (void)buf, (void)len;
    error_set(ERR_INPUT, name, "JPEG is decoded by the browser in this build");
    return NULL;
}

struct image *image_decode_webp(const void *buf, size_t len, const char *name)
{
    (void)buf, (void)len;
    error_set(ERR_INPUT, name, "WebP is decoded by the browser in this build");
    return NULL;
}

int png_write8(const char *path, const uint8_t *pix, int w, int h, int channels)
{
    (void)pix, (void)w, (void)h, (void)channels;
    return error_set(ERR_FAIL, path, "the browser build writes no files");
}

int png_write16_gray(const char *path, const uint16_t *pix, int w, int h)
{
    (void)pix, (void)w, (void)h;
    return error_set(ERR_FAIL, path, "the browser build writes no files");
}
