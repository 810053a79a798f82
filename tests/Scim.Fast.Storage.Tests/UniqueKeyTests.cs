using System.Text;

using Scim.Fast.Storage.Resources;

namespace Scim.Fast.Storage.Tests;

public sealed class UniqueKeyTests
{
    // The ASCII fast path folds into the key's bytes; every name must give the key the general
    // path (ToUpperInvariant, then UTF-8) gives, or uniqueness (RFC 7643 §4.1.1) would split.
    [Fact]
    public void UniqueKey_IsTheFoldedKey_ForAsciiAndOtherNames()
    {
        string[] names =
        [
            "", "bjensen@example.com", "BJensen@Example.COM", "a-z_A-Z.0-9~!@#$%^&*()[]{}|\\;:'\",<>/?`= ", "\u007f\u0000\t",
            "ıi", "ß", "ǅungla", "ſtraße", "Ωmega", "😀smile", "émile@exämple.org", "\u00e9", "K\u212a",
        ];
        var random = new Random(7);
        var generated = new List<string>(names);
        for (int i = 0; i < 2000; i++)
        {
            var text = new StringBuilder();
            int length = random.Next(0, 40);
            for (int c = 0; c < length; c++)
            {
                // Mostly printable ASCII, sometimes any BMP character (lone surrogates included).
                text.Append(random.Next(8) == 0 ? (char)random.Next(0x80, 0xFFFF) : (char)random.Next(0x20, 0x7F));
            }

            generated.Add(text.ToString());
        }

        foreach (string name in generated)
        {
            Assert.Equal(ResourceStore.UniqueKeyByFold(new TenantId(3), 1, name), ResourceStore.UniqueKey(new TenantId(3), 1, name));
        }
    }
}
