"""A listing's picture: what a member uploads, made small and safe by the node before it is kept.

How this works: `prepare(data)` takes the uploaded bytes (already bounded by the HTTP layer to
`picture_upload_bytes_max`), lets Pillow read only JPEG, PNG and WebP (by their content, whatever
the request said), refuses more than `picture_source_pixels_max` pixels before decoding them,
turns the picture as its EXIF orientation says, and draws it into a new RGB image of at most
`picture_side_max` pixels a side: nothing of the original's metadata (EXIF with its GPS position,
XMP, ICC, comments) is copied, since only the pixels are. That image is encoded as WebP, at a
lower quality if it would pass `picture_bytes_max`. Anything else is one `BadPictureError`. It is
blocking and CPU-bound: the caller runs it in a thread, one at a time (`pictures_decoding_max`).
"""

from __future__ import annotations

import hashlib
import io
import warnings

from PIL import Image, ImageOps, UnidentifiedImageError
from tallystick.protocol.errors import RemoteError

from .listings import Picture

# What a phone's camera gives (a 12 to 24 megapixel JPEG is 3 to 8 MB); more is refused before it
# is read whole.
picture_upload_bytes_max = 10 * 1024 * 1024
# Pixels decoded at most: 50 MP is 150 MB of RGB in memory at worst, bounded further by decoding
# JPEGs at a reduced scale (draft mode); a "decompression bomb" of more is refused unread.
picture_source_pixels_max = 50_000_000
# What is kept: enough for a phone's screen at 2x, small enough to keep thousands.
picture_side_max = 1024
picture_bytes_max = 200_000
picture_qualities = (80, 65, 50)
# Pictures decoded at once on this node: each may take a core for a second.
pictures_decoding_max = 1
picture_content_type = "image/webp"
_formats = ("JPEG", "PNG", "WEBP")


class BadPictureError(RemoteError):
    code = "bad_picture"
    http_status = 422


_refusal = (f"send a photo as JPEG, PNG or WebP, at most {picture_upload_bytes_max // (1024 * 1024)} MB "
            f"and {picture_source_pixels_max // 1_000_000} megapixels")


def prepare(data: bytes) -> Picture:
    """The picture to keep: re-encoded WebP without metadata, or BadPictureError."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=_formats) as source:
                width, height = source.size
                if width < 1 or height < 1 or width * height > picture_source_pixels_max:
                    raise BadPictureError(_refusal)
                if source.format == "JPEG":
                    source.draft("RGB", (picture_side_max * 2, picture_side_max * 2))
                source.load()
                turned = ImageOps.exif_transpose(source)
                if turned.mode in ("RGBA", "LA", "P", "PA"):
                    with_alpha = turned.convert("RGBA")
                    flat = Image.new("RGB", with_alpha.size, (255, 255, 255))
                    flat.paste(with_alpha, mask=with_alpha.getchannel("A"))
                else:
                    flat = turned.convert("RGB")
                flat.thumbnail((picture_side_max, picture_side_max), Image.Resampling.LANCZOS)
                # Only the pixels go on: a new image holds no EXIF, XMP, ICC or comment.
                clean = Image.frombytes("RGB", flat.size, flat.tobytes())
    except BadPictureError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError,
            Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise BadPictureError(_refusal) from None
    for quality in picture_qualities:
        out = io.BytesIO()
        clean.save(out, format="WEBP", quality=quality, method=4)
        encoded = out.getvalue()
        if len(encoded) <= picture_bytes_max:
            etag = hashlib.blake2b(encoded, digest_size=16).hexdigest()
            return Picture(encoded, picture_content_type, etag, clean.width, clean.height)
    raise BadPictureError(f"this picture stays over {picture_bytes_max // 1000} KB even made small; send a simpler one")
