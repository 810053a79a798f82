namespace Scim.Fast.Storage.Kv;

/// <summary>
/// The segment files of a FASTER log on disk (<c>name.0</c>, <c>name.1</c>, …, each covering
/// <c>segmentBytes</c> of the log's address space). FASTER's recovery notices a file gone at
/// either end, not one cut short below the recovered tail: that opens without an error, and its
/// records then read as absent (a 1,000,000-user store with its first segment cut to half served
/// 40 % of its users as not found). Checking that every byte the recovered log claims is on disk
/// costs one stat a file.
/// </summary>
internal static class SegmentFiles
{
    /// <summary>
    /// What is missing of the log's addresses [<paramref name="from"/>, <paramref name="until"/>)
    /// in the files <paramref name="basePath"/>.N, or null when every segment is there and long enough.
    /// </summary>
    /// <remarks>
    /// Records never cross a page, and the end of a page that a record did not fit in may never
    /// be written (the write-ahead log's crash tests met segment files 512 bytes short of their
    /// last page's end, with every record there). So a file must reach exactly the tail only where
    /// the tail lies inside a page; elsewhere, to within one page.
    /// </remarks>
    public static string? Missing(string basePath, long segmentBytes, long pageBytes, long from, long until)
    {
        if (until <= from)
        {
            return null;
        }

        for (long segment = from / segmentBytes; segment * segmentBytes < until; segment++)
        {
            long start = segment * segmentBytes;
            long end = Math.Min(until, start + segmentBytes);
            long needed = end == until && until % pageBytes != 0 ? end - start : Math.Max(1, end - start - pageBytes + 1);
            var file = new FileInfo(basePath + "." + segment);
            if (!file.Exists)
            {
                return $"its file {file.Name} is missing (the log holds {from}..{until})";
            }

            // Writes are whole sectors past the last record of a page.
            if (file.Length < needed)
            {
                return $"its file {file.Name} holds {file.Length:N0} bytes, the log needs {needed:N0} there (it holds {from}..{until})";
            }
        }

        return null;
    }
}
