# Pillow's smoke test for the store (tests/src/suites.rs, docs/store.md): the wheel ships no
# tests. Prints `<id>\t<outcome>` per case; a failure's traceback goes to stderr.
import io, sys, traceback
import PIL, PIL.Image, PIL.ImageDraw, PIL.ImageFont, PIL.features

def case(name, f):
    try:
        f()
        print(f"pillow.{name}\tpassed")
    except Exception:
        print(f"pillow.{name}\tfailed")
        traceback.print_exc()

for feature in ["jpg", "zlib", "libtiff", "webp", "freetype2", "littlecms2", "raqm", "xcb", "avif"]:
    print(f"pillow.feature.{feature}\t" + ("passed" if PIL.features.check(feature) else "missing"))

r = PIL.Image.linear_gradient("L").resize((96, 64))
g = PIL.Image.radial_gradient("L").resize((96, 64))
b = PIL.Image.linear_gradient("L").rotate(90).resize((96, 64))
rgb = PIL.Image.merge("RGB", (r, g, b))

def roundtrip(fmt, mode, exact, **options):
    def run():
        source = rgb.convert(mode)
        buf = io.BytesIO()
        source.save(buf, fmt, **options)
        buf.seek(0)
        back = PIL.Image.open(buf)
        assert back.format == fmt, back.format
        back.load()
        assert back.size == source.size, back.size
        a, z = source.convert("RGB").tobytes(), back.convert("RGB").tobytes()
        if exact:
            assert a == z, "pixels differ"
        else:
            error = sum(abs(x - y) for x, y in zip(a, z)) / len(a)
            assert error < 8, f"mean error {error}"
    return run

cases = {
    "png.rgb": roundtrip("PNG", "RGB", True),
    "png.palette": roundtrip("PNG", "P", True, optimize=True),
    "jpeg.rgb": roundtrip("JPEG", "RGB", False, quality=90),
    "jpeg.cmyk": roundtrip("JPEG", "CMYK", False, quality=90),
    "jpeg.progressive": roundtrip("JPEG", "RGB", False, quality=90, progressive=True),
    "webp.lossy": roundtrip("WEBP", "RGB", False, quality=90),
    "webp.lossless": roundtrip("WEBP", "RGBA", True, lossless=True),
    "tiff.raw": roundtrip("TIFF", "RGB", True),
    "tiff.lzw": roundtrip("TIFF", "RGB", True, compression="tiff_lzw"),
    "tiff.deflate": roundtrip("TIFF", "RGB", True, compression="tiff_adobe_deflate"),
    "tiff.jpeg": roundtrip("TIFF", "RGB", False, compression="jpeg"),
    "gif.palette": roundtrip("GIF", "P", True),
}
for name, f in cases.items():
    case(name, f)

def text():
    image = PIL.Image.new("L", (200, 40))
    font = PIL.ImageFont.load_default(size=24)
    assert isinstance(font, PIL.ImageFont.FreeTypeFont), type(font)
    PIL.ImageDraw.Draw(image).text((4, 4), "stormless", font=font, fill=255)
    assert image.getbbox() is not None, "nothing drawn"
case("freetype.text", text)

def color_management():
    from PIL import ImageCms
    srgb, lab = ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB")
    out = ImageCms.applyTransform(rgb, ImageCms.buildTransform(srgb, lab, "RGB", "LAB"))
    assert out.mode == "LAB" and out.size == rgb.size
case("lcms2.srgb_to_lab", color_management)
