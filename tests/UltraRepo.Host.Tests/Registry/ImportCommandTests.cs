using UltraRepo.Host.Tests.Metering;

namespace UltraRepo.Host.Tests.Registry;

/// <summary><c>dotnet run --project src/UltraRepo.Host -- import &lt;file&gt;</c>, run as the real host process.</summary>
public sealed class ImportCommandTests : IDisposable
{
    private readonly TempFolder _folder = new("import");

    public void Dispose() => _folder.Dispose();

    private Task<(int ExitCode, string Output)> ImportAsync(string source) =>
        MarketplaceProcess.RunCommandAsync(
            new Dictionary<string, string>
            {
                ["ConnectionStrings__Sqlite"] = $"Data Source={_folder.File("import.db")}",
                ["Usage__Spool__Directory"] = _folder.File("spool"),
                ["Gateway__MasterKeyFile"] = _folder.File("master.key"),
                ["Demo__Seed"] = "false",
            },
            ["import", source], TimeSpan.FromSeconds(90));

    [Fact]
    public async Task MissingOrUnreadableFiles_EndWithOneLineAndAnExitCode_NotACrash()
    {
        var missing = await ImportAsync(_folder.File("no-such-file.json"));
        File.WriteAllText(_folder.File("broken.json"), "{\"servers\": [");
        var broken = await ImportAsync(_folder.File("broken.json"));
        File.WriteAllText(_folder.File("wrong-shape.json"), "[1, 2, 3]");
        var wrongShape = await ImportAsync(_folder.File("wrong-shape.json"));

        Assert.Equal(2, missing.ExitCode);
        Assert.Contains("import: no file at", missing.Output, StringComparison.Ordinal);
        Assert.Equal(1, broken.ExitCode);
        Assert.Equal(1, wrongShape.ExitCode);
        Assert.Contains("expected a registry list response", wrongShape.Output, StringComparison.Ordinal);
        Assert.All(new[] { missing, broken, wrongShape }, run => Assert.DoesNotContain("Unhandled exception", run.Output, StringComparison.Ordinal));
    }

    [Fact]
    public async Task TheSeedShippedWithTheHost_Imports()
    {
        // The file the README's import example names, from the repository the tests were built in.
        var relative = Path.Combine("src", "UltraRepo.Host", "Demo", "Data", "mcp-registry-seed-2025-05.json");
        var seed = Enumerable.Range(0, 8).Select(up => Path.GetFullPath(Path.Combine([AppContext.BaseDirectory, .. Enumerable.Repeat("..", up), relative])))
            .First(File.Exists);

        var run = await ImportAsync(seed);

        Assert.True(run.ExitCode == 0, run.Output);
        Assert.Contains("imported 283, updated 0, unchanged 0, rejected 188", run.Output, StringComparison.Ordinal);
    }
}
