namespace Scim.Fast.Storage.Tests;

/// <summary>Damage done to a store's files on disk, as a disk or an interrupted copy would.</summary>
internal static class FileDamage
{
    /// <summary>Changes one 'x' (a byte of a record's payload) a third of the way into <paramref name="file"/> to 'y'.</summary>
    public static void ChangeOneByte(string file)
    {
        var bytes = File.ReadAllBytes(file);
        int at = bytes.Length / 3;
        while (bytes[at] != (byte)'x')
        {
            at++;
        }

        bytes[at] = (byte)'y';
        File.WriteAllBytes(file, bytes);
    }
}
