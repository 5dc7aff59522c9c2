using System.Buffers;
using System.Buffers.Binary;
using System.IO.Hashing;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace UltraRepo.Metering.Spool;

/// <summary>
/// Record framing in spool segments: 4-byte little-endian payload length, 4-byte CRC-32 of the
/// payload, then the payload (the usage event as UTF-8 JSON). A torn or corrupt tail is detected by
/// the length or the checksum and cut off on recovery.
/// </summary>
public static class SpoolRecords
{
    public const int HeaderSize = 8;
    public const int MaxPayload = 1024 * 1024;

    public static void Write(IBufferWriter<byte> writer, UsageEvent usage)
    {
        var payload = JsonSerializer.SerializeToUtf8Bytes(usage, SpoolJson.Default.UsageEvent);
        var header = writer.GetSpan(HeaderSize);
        BinaryPrimitives.WriteInt32LittleEndian(header, payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], Crc32.HashToUInt32(payload));
        writer.Advance(HeaderSize);
        payload.CopyTo(writer.GetSpan(payload.Length));
        writer.Advance(payload.Length);
    }

    /// <summary>Reads one record at the start of <paramref name="data"/>; false when it is incomplete or corrupt.</summary>
    public static bool TryRead(ReadOnlySpan<byte> data, out UsageEvent? usage, out int consumed, out bool corrupt)
    {
        usage = null;
        consumed = 0;
        corrupt = false;
        if (data.Length < HeaderSize)
        {
            return false;
        }

        var length = BinaryPrimitives.ReadInt32LittleEndian(data);
        if (length <= 0 || length > MaxPayload)
        {
            corrupt = true;
            return false;
        }

        if (data.Length < HeaderSize + length)
        {
            return false;
        }

        var payload = data.Slice(HeaderSize, length);
        if (Crc32.HashToUInt32(payload) != BinaryPrimitives.ReadUInt32LittleEndian(data[4..]))
        {
            corrupt = true;
            return false;
        }

        usage = JsonSerializer.Deserialize(payload, SpoolJson.Default.UsageEvent);
        consumed = HeaderSize + length;
        return usage is not null;
    }
}

[JsonSerializable(typeof(UsageEvent))]
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web)]
internal sealed partial class SpoolJson : JsonSerializerContext;
