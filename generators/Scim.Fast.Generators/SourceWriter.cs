using System.Text;

namespace Scim.Fast.Generators;

/// <summary>An indented text writer for generated source (as System.Text.Json's generator does).</summary>
internal sealed class SourceWriter
{
    private readonly StringBuilder _builder = new();
    private int _indent;

    public void Line(string text = "")
    {
        if (text.Length > 0)
        {
            _builder.Append(' ', _indent * 4);
        }

        _builder.Append(text).Append('\n');
    }

    /// <summary>Writes a header line (if any) and an opening brace, then indents. "[" opens a bracket.</summary>
    public void Open(string header = "{")
    {
        if (header is not "{" and not "[")
        {
            Line(header);
            header = "{";
        }

        Line(header);
        _indent++;
    }

    public void Close(string text = "}")
    {
        _indent--;
        Line(text);
    }

    public void Indent() => _indent++;

    public void Unindent() => _indent--;

    public override string ToString() => _builder.ToString();
}
