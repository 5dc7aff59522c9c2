using System.Text;
using CsCheck;
using UltraRepo.Domain.Metering;
using static UltraRepo.Domain.Tests.Metering.Reference;

namespace UltraRepo.Domain.Tests.Metering;

public class McpTokenAccountingTests
{
    private static readonly ITokenCounter O200k = Tokenizers.Get(Tokenizers.O200kBase);

    private static MessageTokens FromClient(string json) => McpTokenAccounting.CountMessage(Encoding.UTF8.GetBytes(json), MessageDirection.ClientToServer, O200k);

    private static MessageTokens FromServer(string json, string? answering = null) =>
        McpTokenAccounting.CountMessage(Encoding.UTF8.GetBytes(json), MessageDirection.ServerToClient, O200k, answering);

    private static IReadOnlyList<MessageTokens> Body(string json, MessageDirection direction, IReadOnlyDictionary<string, string>? methods = null) =>
        McpTokenAccounting.CountBody(Encoding.UTF8.GetBytes(json), direction, O200k, methods);

    private static string ToolResult(string result) => $$$"""{"jsonrpc":"2.0","id":7,"result":{{{result}}} }""";

    private static string JsonString(string text) => System.Text.Json.JsonSerializer.Serialize(text);

    private static string Base64Of(int bytes) => Convert.ToBase64String(Enumerable.Range(0, bytes).Select(i => (byte)(i * 31)).ToArray());

    /// <summary>The binary rule computed from the decoded size itself, independently of base64 arithmetic.</summary>
    private static long BinaryTokensFor(int decodedBytes) => (decodedBytes + 127) / 128;

    private static void AssertInvalid(MessageTokens counted)
    {
        Assert.Equal(JsonRpcKind.Invalid, counted.Info.Kind);
        Assert.Equal(0, counted.Tokens);
        Assert.Null(counted.Info.Method);
    }

    // ---- Client to server: requests and notifications (input tokens)

    [Fact]
    public void ToolsCall_CountsToolNameAndRawArguments()
    {
        const string arguments = """{"city": "Paris", "units": "metric", "days": [1, 2, 3]}""";
        var counted = FromClient($$$"""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"get_forecast","arguments":{{{arguments}}},"_meta":{"progressToken":"p-1"} } }""");

        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Request, "tools/call", "1", "get_forecast", false, null, null), counted.Info);
        Assert.Equal(Tokens("get_forecast") + Tokens(arguments), counted.Tokens);
    }

    [Fact]
    public void ToolsCall_WithoutOrWithEmptyArguments_CountsTheNameOnly()
    {
        Assert.Equal(Tokens("list_files"), FromClient("""{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_files"}}""").Tokens);
        Assert.Equal(Tokens("list_files"), FromClient("""{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"list_files","arguments":{ }}}""").Tokens);
    }

    [Fact]
    public void ToolsCall_ArgumentsAreRawJsonButTheNameIsUnescaped()
    {
        const string arguments = """{"text":"line\nbreak caf\u00e9"}""";
        var counted = FromClient($$$"""{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"caf\u00e9_search","arguments":{{{arguments}}} } }""");

        Assert.NotEqual(Tokens("caf\\u00e9_search"), Tokens("café_search")); // the escape would count differently
        Assert.Equal("café_search", counted.Info.Target);
        Assert.Equal(Tokens("café_search") + Tokens(arguments), counted.Tokens);
    }

    [Fact]
    public void ToolsCall_MembersInAnyOrder_AreFound()
    {
        var counted = FromClient("""{"params":{"arguments":{"q":"mcp"},"name":"search"},"method":"tools/call","id":"req-9","jsonrpc":"2.0"}""");

        Assert.Equal(JsonRpcKind.Request, counted.Info.Kind);
        Assert.Equal("\"req-9\"", counted.Info.Id);
        Assert.Equal("search", counted.Info.Target);
        Assert.Equal(Tokens("search") + Tokens("""{"q":"mcp"}"""), counted.Tokens);
    }

    [Fact]
    public void PromptsGet_CountsPromptNameAndRawArguments()
    {
        const string arguments = """{"code":"def f(x):\n    return x * 2","language":"python"}""";
        var counted = FromClient($$$"""{"jsonrpc":"2.0","id":4,"method":"prompts/get","params":{"name":"code_review","arguments":{{{arguments}}} } }""");

        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Request, "prompts/get", "4", "code_review", false, null, null), counted.Info);
        Assert.Equal(Tokens("code_review") + Tokens(arguments), counted.Tokens);
    }

    [Fact]
    public void ResourcesRead_CountsTheUri()
    {
        var counted = FromClient("""{"jsonrpc":"2.0","id":5,"method":"resources/read","params":{"uri":"file:///project/src/main.rs"}}""");

        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Request, "resources/read", "5", "file:///project/src/main.rs", false, null, null), counted.Info);
        Assert.Equal(Tokens("file:///project/src/main.rs"), counted.Tokens);
    }

    [Fact]
    public void OtherRequest_CountsRawParams()
    {
        const string @params = """{"protocolVersion":"2025-06-18","capabilities":{"sampling":{},"elicitation":{}},"clientInfo":{"name":"ExampleClient","version":"1.0.0"}}""";
        var counted = FromClient($$$"""{"jsonrpc":"2.0","id":0,"method":"initialize","params":{{{@params}}} }""");

        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Request, "initialize", "0", null, false, null, null), counted.Info);
        Assert.Equal(Tokens(@params), counted.Tokens);
    }

    [Fact]
    public void RequestWithoutOrWithEmptyParams_CountsZero()
    {
        Assert.Equal(0, FromClient("""{"jsonrpc":"2.0","id":6,"method":"tools/list"}""").Tokens);
        Assert.Equal(0, FromClient("""{"jsonrpc":"2.0","id":6,"method":"tools/list","params":{}}""").Tokens);
        Assert.Equal(0, FromClient("""{"jsonrpc":"2.0","id":6,"method":"ping","params":null}""").Tokens);
    }

    [Fact]
    public void Notification_HasNoIdAndCountsRawParams()
    {
        var initialized = FromClient("""{"jsonrpc":"2.0","method":"notifications/initialized"}""");
        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Notification, "notifications/initialized", null, null, false, null, null), initialized.Info);
        Assert.Equal(0, initialized.Tokens);

        const string @params = """{"requestId":"123","reason":"User requested cancellation"}""";
        var cancelled = FromClient($$$"""{"jsonrpc":"2.0","method":"notifications/cancelled","params":{{{@params}}} }""");
        Assert.Equal(JsonRpcKind.Notification, cancelled.Info.Kind);
        Assert.Equal(Tokens(@params), cancelled.Tokens);
    }

    [Fact]
    public void UnknownMethod_IsReportedVerbatim()
    {
        var counted = FromClient("""{"jsonrpc":"2.0","id":1,"method":"vendor/custom","params":{"x":1}}""");
        Assert.Equal("vendor/custom", counted.Info.Method);
        Assert.Equal(Tokens("""{"x":1}"""), counted.Tokens);
    }

    // ---- Server to client: tools/call results (output tokens)

    [Fact]
    public void ToolResult_TextBlocks_CountTheUnescapedTexts()
    {
        var counted = FromServer(ToolResult("""{"content":[{"type":"text","text":"line\nbreak"},{"type":"text","text":"caf\u00e9 \"quoted\""}]}"""), "tools/call");

        Assert.NotEqual(Tokens("caf\\u00e9 \\\"quoted\\\""), Tokens("café \"quoted\"")); // escapes would count differently
        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Response, "tools/call", "7", null, false, null, null), counted.Info);
        Assert.False(counted.Info.IsToolError);
        Assert.Equal(Tokens("line\nbreak") + Tokens("café \"quoted\""), counted.Tokens);
    }

    // The same result written as other encoders may write it: whitespace anywhere it is allowed, escaped member names,
    // and siblings whose strings hold brackets, quotes and backslashes, around and inside the members that are read.
    [Theory]
    [InlineData("""{"content":[{"type":"text","text":"first \"part\""},{"type":"text","text":"second\\part ]"}]}""")]
    [InlineData(" {\r\n\t\"content\" :\n [ {\"type\" : \"text\" , \"text\":\"first \\\"part\\\"\"} ,\n\t{ \"type\":\"text\",\"text\" :\"second\\\\part ]\" } ] \r\n} ")]
    [InlineData("""{"con\u0074ent":[{"\u0074ype":"text","te\u0078t":"first \"part\""},{"type":"\u0074ext","text":"second\\part ]"}]}""")]
    [InlineData("""{"meta":{"a":[1,{"b":"]}\"[{"}],"c":true,"d":null,"e":false},"content":[{"note":"{[\\","type":"text","n":-1.5e+3,"text":"first \"part\""},{"type":"text","text":"second\\part ]","x":[[],{},""]}],"isError":false}""")]
    [InlineData("""{"content":[{"type":"text","text":"ignored"}],"content":[{"type":"text","text":"first \"part\""},{"text":"second\\part ]","type":"text"}],"z":0}""")]
    public void ToolResult_AnyLayoutOrEscaping_CountsTheSameTexts(string result)
    {
        var counted = FromServer(ToolResult(result), "tools/call");

        Assert.Equal(JsonRpcKind.Response, counted.Info.Kind);
        Assert.False(counted.Info.IsToolError);
        Assert.Equal(Tokens("first \"part\"") + Tokens("second\\part ]"), counted.Tokens);
    }

    [Fact]
    public void ToolResult_ImageAndAudio_UseTheBinaryRule()
    {
        // 128 bytes encode to 172 chars ending in '=': without subtracting the padding they would look like 129 bytes (2 tokens).
        string image = Base64Of(128), audio = Base64Of(5000);
        Assert.EndsWith("=", image, StringComparison.Ordinal);
        var counted = FromServer(ToolResult($$$"""{"content":[{"type":"image","data":"{{{image}}}","mimeType":"image/png"},{"type":"audio","data":"{{{audio}}}","mimeType":"audio/wav"}]}"""), "tools/call");

        Assert.Equal(BinaryTokensFor(128) + BinaryTokensFor(5000), counted.Tokens);
    }

    [Fact]
    public void ToolResult_Base64WithEscapedSlashes_IsMeasuredUnescaped()
    {
        string data = Convert.ToBase64String(Enumerable.Repeat((byte)0xFF, 300).ToArray()); // "////..."
        string escaped = data.Replace("/", "\\/", StringComparison.Ordinal);
        var counted = FromServer(ToolResult($$$"""{"content":[{"type":"image","data":"{{{escaped}}}","mimeType":"image/png"}]}"""), "tools/call");

        Assert.Equal(BinaryTokensFor(300), counted.Tokens);
    }

    [Fact]
    public void ToolResult_EmbeddedResource_CountsItsTextOrBlob()
    {
        const string text = "fn main() {\n    println!(\"Hello, world!\");\n}";
        string blob = Base64Of(1000);
        var counted = FromServer(ToolResult($$$"""
            {"content":[
              {"type":"resource","resource":{"uri":"file:///project/src/main.rs","mimeType":"text/x-rust","text":"fn main() {\n    println!(\"Hello, world!\");\n}"} },
              {"type":"resource","resource":{"uri":"file:///logo.png","mimeType":"image/png","blob":"{{{blob}}}"} }
            ]}
            """), "tools/call");

        Assert.Equal(Tokens(text) + BinaryTokensFor(1000), counted.Tokens);
    }

    [Fact]
    public void ToolResult_ResourceLinkAndUnknownBlocks_CountAsRawJson()
    {
        const string link = """{"type":"resource_link","uri":"file:///project/README.md","name":"README.md","description":"Project readme","mimeType":"text/markdown"}""";
        const string unknown = """{"type":"video","url":"https://example.com/v.mp4"}""";
        var counted = FromServer(ToolResult($$$"""{"content":[{{{link}}},{{{unknown}}}]}"""), "tools/call");

        Assert.Equal(Tokens(link) + Tokens(unknown), counted.Tokens);
    }

    [Fact]
    public void ToolResult_StructuredContentWithoutTextBlock_CountsTheStructuredContent()
    {
        const string structured = """{"temperature":22.5,"conditions":"Partly cloudy","humidity":65}""";
        string image = Base64Of(256);
        var counted = FromServer(ToolResult($$$"""{"content":[{"type":"image","data":"{{{image}}}","mimeType":"image/png"}],"structuredContent":{{{structured}}} }"""), "tools/call");
        var structuredOnly = FromServer(ToolResult($$$"""{"structuredContent":{{{structured}}} }"""), "tools/call");

        Assert.Equal(BinaryTokensFor(256) + Tokens(structured), counted.Tokens);
        Assert.Equal(Tokens(structured), structuredOnly.Tokens);
    }

    [Fact]
    public void ToolResult_StructuredContentDuplicatedInATextBlock_CountsTheTextBlockOnly()
    {
        const string structured = """{"temperature":22.5,"conditions":"Partly cloudy","humidity":65}""";
        const string text = "{\n  \"temperature\": 22.5,\n  \"conditions\": \"Partly cloudy\",\n  \"humidity\": 65\n}";
        var counted = FromServer(ToolResult($$$"""{"content":[{"type":"text","text":{{{JsonString(text)}}} }],"structuredContent":{{{structured}}} }"""), "tools/call");

        Assert.NotEqual(Tokens(text), Tokens(structured));
        Assert.Equal(Tokens(text), counted.Tokens);
    }

    [Fact]
    public void ToolResult_IsError_IsAToolErrorNotAJsonRpcError()
    {
        var counted = FromServer(ToolResult("""{"content":[{"type":"text","text":"Failed to fetch weather data: API rate limit exceeded"}],"isError":true}"""), "tools/call");

        Assert.True(counted.Info.IsToolError);
        Assert.False(counted.Info.IsError);
        Assert.Equal(Tokens("Failed to fetch weather data: API rate limit exceeded"), counted.Tokens);
    }

    // ---- Server to client: other results

    [Fact]
    public void PromptsGetResult_CountsDescriptionAndMessageContents()
    {
        string image = Base64Of(640);
        var counted = FromServer($$$"""
            {"jsonrpc":"2.0","id":2,"result":{
              "description":"Code review prompt",
              "messages":[
                {"role":"user","content":{"type":"text","text":"Please review this Python code:\ndef hello():\n    print('world')"} },
                {"role":"user","content":{"type":"image","data":"{{{image}}}","mimeType":"image/png"} },
                {"role":"assistant","content":{"type":"resource","resource":{"uri":"resource://example","mimeType":"text/plain","text":"Resource content"} } }
              ]} }
            """, "prompts/get");

        long expected = Tokens("Code review prompt") + Tokens("Please review this Python code:\ndef hello():\n    print('world')") + BinaryTokensFor(640) + Tokens("Resource content");
        Assert.Equal(expected, counted.Tokens);
        Assert.Equal("prompts/get", counted.Info.Method);
    }

    [Fact]
    public void ResourcesReadResult_CountsTextContentsAndBlobs()
    {
        string blob = Base64Of(2048);
        var counted = FromServer($$$"""
            {"jsonrpc":"2.0","id":2,"result":{"contents":[
              {"uri":"file:///project/src/main.rs","mimeType":"text/x-rust","text":"fn main() {\n    println!(\"Hello world!\");\n}"},
              {"uri":"file:///project/logo.png","mimeType":"image/png","blob":"{{{blob}}}"}
            ]} }
            """, "resources/read");

        Assert.Equal(Tokens("fn main() {\n    println!(\"Hello world!\");\n}") + BinaryTokensFor(2048), counted.Tokens);
    }

    [Theory]
    [InlineData("tools/list", """{"tools":[{"name":"get_weather","title":"Weather Information Provider","description":"Get current weather information for a location","inputSchema":{"type":"object","properties":{"location":{"type":"string","description":"City name or zip code"}},"required":["location"]}}],"nextCursor":"next-page-cursor"}""")]
    [InlineData("prompts/list", """{"prompts":[{"name":"code_review","title":"Request Code Review","description":"Asks the LLM to analyze code quality and suggest improvements","arguments":[{"name":"code","description":"The code to review","required":true}]}]}""")]
    [InlineData("resources/list", """{"resources":[{"uri":"file:///project/src/main.rs","name":"main.rs","title":"Rust Software Application Main File","mimeType":"text/x-rust"}]}""")]
    [InlineData("resources/templates/list", """{"resourceTemplates":[{"uriTemplate":"file:///{path}","name":"Project Files","mimeType":"application/octet-stream"}]}""")]
    [InlineData("initialize", """{"protocolVersion":"2025-06-18","capabilities":{"logging":{},"prompts":{"listChanged":true},"tools":{"listChanged":true}},"serverInfo":{"name":"ExampleServer","version":"1.0.0"},"instructions":"Optional instructions for the client"}""")]
    [InlineData("completion/complete", """{"completion":{"values":["python","pytorch","pyside"],"total":10,"hasMore":true}}""")]
    public void ListAndOtherResults_CountRawResult(string method, string result)
    {
        var counted = FromServer($$$"""{"jsonrpc":"2.0","id":1,"result":{{{result}}} }""", method);

        Assert.Equal(method, counted.Info.Method);
        Assert.Equal(Tokens(result), counted.Tokens);
    }

    [Fact]
    public void ResultOfAnUnknownRequest_CountsRawResult()
    {
        // Without the request's method a tools/call result is just JSON: the envelope of each block counts too.
        const string result = """{"content":[{"type":"text","text":"hi"}]}""";
        var counted = FromServer($$$"""{"jsonrpc":"2.0","id":1,"result":{{{result}}} }""");

        Assert.Null(counted.Info.Method);
        Assert.Equal(Tokens(result), counted.Tokens);
        Assert.NotEqual(Tokens("hi"), counted.Tokens);
    }

    [Fact]
    public void EmptyResult_CountsZero()
    {
        var pong = FromServer("""{"jsonrpc":"2.0","id":"ping-1","result":{}}""", "ping");
        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Response, "ping", "\"ping-1\"", null, false, null, null), pong.Info);
        Assert.Equal(0, pong.Tokens);
    }

    [Fact]
    public void ErrorResponse_CountsMessageAndRawData()
    {
        const string data = """{"requested":"1.0.0","supported":["2024-11-05","2025-06-18"]}""";
        var counted = FromServer($$$"""{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"Unsupported protocol version","data":{{{data}}} } }""", "initialize");

        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Response, "initialize", "1", null, true, -32602, "Unsupported protocol version"), counted.Info);
        Assert.Equal(Tokens("Unsupported protocol version") + Tokens(data), counted.Tokens);
    }

    [Fact]
    public void ErrorResponse_WithoutData_CountsTheUnescapedMessage()
    {
        var counted = FromServer("""{"jsonrpc":"2.0","id":3,"error":{"code":-32601,"message":"Unknown tool: \"invalid_tool_name\""}}""", "tools/call");

        Assert.True(counted.Info.IsError);
        Assert.Equal("Unknown tool: \"invalid_tool_name\"", counted.Info.ErrorMessage);
        Assert.Equal(Tokens("Unknown tool: \"invalid_tool_name\""), counted.Tokens);
    }

    [Fact]
    public void ErrorResponse_FromTheClient_CountsTheSameWay()
    {
        var counted = FromClient("""{"jsonrpc":"2.0","id":"s-1","error":{"code":-1,"message":"User rejected sampling request"}}""");

        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Response, null, "\"s-1\"", null, true, -1, "User rejected sampling request"), counted.Info);
        Assert.Equal(Tokens("User rejected sampling request"), counted.Tokens);
    }

    // ---- Server to client: requests and notifications on the stream

    [Fact]
    public void ServerNotification_CountsRawParams()
    {
        const string progress = """{"progressToken":"abc123","progress":50,"total":100,"message":"Reticulating splines..."}""";
        const string log = """{"level":"error","logger":"database","data":{"error":"Connection failed","details":{"host":"localhost","port":5432}}}""";

        var counted = FromServer($$$"""{"jsonrpc":"2.0","method":"notifications/progress","params":{{{progress}}} }""");
        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Notification, "notifications/progress", null, null, false, null, null), counted.Info);
        Assert.Equal(Tokens(progress), counted.Tokens);
        Assert.Equal(Tokens(log), FromServer($$$"""{"jsonrpc":"2.0","method":"notifications/message","params":{{{log}}} }""").Tokens);
    }

    [Fact]
    public void ServerSamplingRequest_CountsRawParams()
    {
        const string @params = """{"messages":[{"role":"user","content":{"type":"text","text":"What is the capital of France?"}}],"modelPreferences":{"hints":[{"name":"claude-3-sonnet"}],"intelligencePriority":0.8,"speedPriority":0.5},"systemPrompt":"You are a helpful assistant.","maxTokens":100}""";
        var counted = FromServer($$$"""{"jsonrpc":"2.0","id":1,"method":"sampling/createMessage","params":{{{@params}}} }""");

        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Request, "sampling/createMessage", "1", null, false, null, null), counted.Info);
        Assert.Equal(Tokens(@params), counted.Tokens);
    }

    [Fact]
    public void ServerToolsCallRequest_CountsRawParams_NotTheClientRule()
    {
        // The tools/call rule is for what clients send; anything a server sends is counted as raw params.
        const string @params = """{"name":"x","arguments":{"a":1}}""";
        Assert.Equal(Tokens(@params), FromServer($$$"""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{{{@params}}} }""").Tokens);
    }

    // ---- Client to server: responses to server requests

    [Fact]
    public void ClientSamplingResult_CountsItsContentBlock()
    {
        var text = FromClient("""{"jsonrpc":"2.0","id":1,"result":{"role":"assistant","content":{"type":"text","text":"The capital of France is Paris."},"model":"claude-3-sonnet-20240307","stopReason":"endTurn"}}""");
        string image = Base64Of(4096);
        var picture = FromClient($$$"""{"jsonrpc":"2.0","id":2,"result":{"role":"assistant","content":{"type":"image","data":"{{{image}}}","mimeType":"image/jpeg"},"model":"m"} }""");
        var blocks = FromClient("""{"jsonrpc":"2.0","id":3,"result":{"role":"assistant","content":[{"type":"text","text":"Part one."},{"type":"text","text":"Part two."}],"model":"m"}}""");

        Assert.Equal(new JsonRpcInfo(JsonRpcKind.Response, null, "1", null, false, null, null), text.Info);
        Assert.Equal(Tokens("The capital of France is Paris."), text.Tokens);
        Assert.Equal(BinaryTokensFor(4096), picture.Tokens);
        Assert.Equal(Tokens("Part one.") + Tokens("Part two."), blocks.Tokens);
    }

    [Fact]
    public void ClientResultWithoutContent_CountsRawResult()
    {
        const string roots = """{"roots":[{"uri":"file:///home/user/projects/myproject","name":"My Project"}]}""";
        Assert.Equal(Tokens(roots), FromClient($$$"""{"jsonrpc":"2.0","id":1,"result":{{{roots}}} }""").Tokens);
        Assert.Equal(0, FromClient("""{"jsonrpc":"2.0","id":1,"result":{}}""").Tokens);
    }

    [Fact]
    public void ClientElicitationResult_CountsItsFormValuesAsRawJson()
    {
        // An elicitation result's content is form values, not a content block: no "type", so it is read as raw JSON.
        const string content = """{"name":"Octocat","email":"octocat@github.com"}""";
        Assert.Equal(Tokens(content), FromClient($$$"""{"jsonrpc":"2.0","id":1,"result":{"action":"accept","content":{{{content}}} } }""").Tokens);
    }

    // ---- Bodies: batches, ids, invalid input

    [Fact]
    public void CountBody_Batch_CountsEachMessageInOrder()
    {
        var counted = Body("""
            [{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}},
             {"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":5}},
             42,
             {"jsonrpc":"2.0","id":2,"method":"resources/read","params":{"uri":"file:///a.txt"}}]
            """, MessageDirection.ClientToServer);

        Assert.Equal([JsonRpcKind.Request, JsonRpcKind.Notification, JsonRpcKind.Invalid, JsonRpcKind.Request], counted.Select(c => c.Info.Kind));
        Assert.Equal(
            [Tokens("echo") + Tokens("""{"text":"hi"}"""), Tokens("""{"progressToken":1,"progress":5}"""), 0, Tokens("file:///a.txt")],
            counted.Select(c => c.Tokens));
    }

    [Fact]
    public void CountBody_ResponseBatch_UsesTheMethodsOfTheAnsweredRequests()
    {
        var methods = new Dictionary<string, string> { ["1"] = "tools/call", ["\"b\""] = "tools/list" };
        const string listResult = """{"tools":[{"name":"echo","inputSchema":{"type":"object"}}]}""";
        var counted = Body($$$"""
            [{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"hi there"}]} },
             {"jsonrpc":"2.0","id":"b","result":{{{listResult}}} },
             {"jsonrpc":"2.0","id":99,"result":{"content":[{"type":"text","text":"hi there"}]} }]
            """, MessageDirection.ServerToClient, methods);

        Assert.Equal(["tools/call", "tools/list", null], counted.Select(c => c.Info.Method));
        Assert.Equal(
            [Tokens("hi there"), Tokens(listResult), Tokens("""{"content":[{"type":"text","text":"hi there"}]}""")],
            counted.Select(c => c.Tokens));
    }

    [Fact]
    public void CountBody_SingleMessage_IsOneEntry()
    {
        var counted = Assert.Single(Body("""{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"done"}]}}""", MessageDirection.ServerToClient, new Dictionary<string, string> { ["1"] = "tools/call" }));
        Assert.Equal(Tokens("done"), counted.Tokens);
    }

    [Fact]
    public void CountBody_LeadingBom_IsIgnored()
    {
        byte[] body = [0xEF, 0xBB, 0xBF, .. Encoding.UTF8.GetBytes("""{"jsonrpc":"2.0","method":"notifications/initialized"}""")];
        Assert.Equal(JsonRpcKind.Notification, Assert.Single(McpTokenAccounting.CountBody(body, MessageDirection.ClientToServer, O200k)).Info.Kind);
    }

    [Theory]
    [InlineData("")]
    [InlineData("   ")]
    [InlineData("not json")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x",""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping"} trailing""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping"}{"jsonrpc":"2.0","id":2,"method":"ping"}""")]
    [InlineData("""{"jsonrpc":"2.0",}""")]
    [InlineData("""{'jsonrpc':'2.0'}""")]
    [InlineData("[]")]
    [InlineData("[ ]")]
    [InlineData("42")]
    [InlineData("\"tools/call\"")]
    [InlineData("null")]
    [InlineData("""{"id":1,"method":"tools/call","params":{"name":"x"}}""")]
    [InlineData("""{"jsonrpc":"1.0","id":1,"method":"ping"}""")]
    [InlineData("""{"jsonrpc":2.0,"id":1,"method":"ping"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":42}""")]
    [InlineData("""{"hello":"world"}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":5}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":"echo"}""")]
    [InlineData("""{"jsonrpc":"2.0","method":"notifications/progress","params":true}""")]
    public void CountBody_NotAJsonRpcBody_IsOneInvalidEntryWithZeroTokens(string body)
    {
        AssertInvalid(Assert.Single(Body(body, MessageDirection.ClientToServer)));
        AssertInvalid(Assert.Single(Body(body, MessageDirection.ServerToClient)));
    }

    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping","params":null}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping","params":[]}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping","params":{}}""")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"ping"}""")]
    public void CountMessage_ParamsAbsentNullOrStructured_IsARequest(string body) =>
        Assert.Equal(JsonRpcKind.Request, FromClient(body).Info.Kind);

    [Fact]
    public void CountBody_InvalidUtf8_IsInvalid()
    {
        byte[] body = [.. """{"jsonrpc":"2.0","method":"notifications/message","params":{"data":"""u8, (byte)'"', 0xC3, 0x28, (byte)'"', (byte)'}', (byte)'}'];
        AssertInvalid(Assert.Single(McpTokenAccounting.CountBody(body, MessageDirection.ServerToClient, O200k)));
    }

    [Fact]
    public void CountMessage_GivenABatch_IsInvalid()
    {
        AssertInvalid(FromClient("""[{"jsonrpc":"2.0","method":"notifications/initialized"}]"""));
    }

    [Fact]
    public void NestingDeeperThanTheDefaultReaderLimit_IsStillCounted()
    {
        string arguments = string.Concat(Enumerable.Repeat("{\"a\":", 100)) + "1" + new string('}', 100);
        var counted = FromClient($$$"""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"deep","arguments":{{{arguments}}} } }""");
        Assert.Equal(Tokens("deep") + Tokens(arguments), counted.Tokens);
    }

    [Fact]
    public void LargeTextResult_IsCountedExactly()
    {
        string prose = string.Concat(Enumerable.Range(0, 3000).Select(i => $"Line {i}: the quick brown fox jumps over the lazy dog. \"Quoted\" and tabbed\t text.\n"));
        string escaped = JsonString(prose);
        var counted = FromServer(ToolResult($$$"""{"content":[{"type":"text","text":{{{escaped}}} }]}"""), "tools/call");

        Assert.True(escaped.Length > 200_000);
        Assert.Equal(Tokens(prose), counted.Tokens);
    }

    [Fact]
    public void LoneSurrogateEscape_DoesNotThrowAndCountsTheTextAsWritten()
    {
        var counted = FromServer(ToolResult("""{"content":[{"type":"text","text":"bad \ud800 half"}]}"""), "tools/call");
        Assert.Equal(JsonRpcKind.Response, counted.Info.Kind);
        Assert.Equal(Tokens("bad \\ud800 half"), counted.Tokens);
    }

    [Fact]
    public void DuplicateMembers_TheLastOneCounts()
    {
        var counted = FromClient("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"a","arguments":{"x":1},"arguments":{"long":"argument value here"}}}""");
        Assert.Equal(Tokens("a") + Tokens("""{"long":"argument value here"}"""), counted.Tokens);
    }

    [Fact]
    public void CountBody_NeverThrows_OnMutatedOrTruncatedMessages()
    {
        byte[] message = Encoding.UTF8.GetBytes($$$"""
            [{"jsonrpc":"2.0","id":1,"result":{"content":[{"type":"text","text":"caf\u00e9 \ud83d\ude00 line\nbreak"},{"type":"image","data":"{{{Base64Of(300)}}}","mimeType":"image/png"},
              {"type":"resource","resource":{"uri":"file:///a","blob":"QUJD"} }],"structuredContent":{"a":[1,2,{"b":null}]},"isError":false} },
             {"jsonrpc":"2.0","id":"x","error":{"code":-32603,"message":"boom","data":{"trace":["a","b"]} } },
             {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}]
            """);
        var methods = new Dictionary<string, string> { ["1"] = "tools/call" };
        var mutations = Gen.Select(Gen.Int[0, message.Length - 1], Gen.Byte, Gen.Int[0, message.Length], (position, value, cut) => (position, value, cut));

        mutations.Sample(m =>
        {
            byte[] mutated = [.. message[..m.cut]];
            if (m.position < mutated.Length)
            {
                mutated[m.position] = m.value;
            }

            foreach (var direction in new[] { MessageDirection.ClientToServer, MessageDirection.ServerToClient })
            {
                var counted = McpTokenAccounting.CountBody(mutated, direction, O200k, methods);
                Assert.NotEmpty(counted);
                Assert.All(counted, c => Assert.True(c.Tokens >= 0));
            }
        }, iter: 3000);
    }

    [Fact]
    public void CountBody_NeverThrows_OnRandomBytes()
    {
        Gen.Byte.Array[0, 200].Sample(bytes =>
        {
            AssertInvalid(Assert.Single(McpTokenAccounting.CountBody(bytes, MessageDirection.ServerToClient, O200k)));
        }, iter: 3000);
    }

    // ---- The binary rule

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 0)]                  // floor(1 × 3 / 4) = 0 bytes
    [InlineData(4, 1)]                  // 3 bytes
    [InlineData(170, 1)]                // 127 bytes
    [InlineData(171, 1)]                // 128 bytes
    [InlineData(172, 2)]                // 129 bytes: with only the length, padding is not known
    [InlineData(1_333_336, 7_813)]      // ~1 MB image
    [InlineData(int.MaxValue, 12_582_912)] // no overflow
    public void BinaryTokens_IsOneTokenPerStarted128DecodedBytes(int base64Length, long expected)
    {
        Assert.Equal(expected, McpTokenAccounting.BinaryTokens(base64Length));
    }

    [Fact]
    public void BinaryData_DoublePadding_IsSubtracted()
    {
        // 256 bytes encode to 344 chars ending in "==": 258 bytes by length alone (3 tokens), 256 really (2 tokens).
        string data = Base64Of(256);
        Assert.EndsWith("==", data, StringComparison.Ordinal);
        Assert.Equal(3, McpTokenAccounting.BinaryTokens(data.Length));
        var counted = FromServer($$$"""{"jsonrpc":"2.0","id":1,"result":{"contents":[{"uri":"file:///a.bin","blob":"{{{data}}}"}]} }""", "resources/read");
        Assert.Equal(2, counted.Tokens);
    }
}
