package seed

// Bot texts, as users of a company deployment write them.
var botTitles = []string{
	"HR Policy Assistant",
	"Nimbus Support FAQ",
	"Brainstorming Partner",
	"Travel & Expense Helper",
	"Product Docs (public API)",
	"Developer Portal Search",
	"Onboarding Buddy",
	"On-call Runbook Bot",
	"Quarterly Reports Q&A",
	"社内規程アシスタント",
	"Assistant RH (Europe)",
	"Writing Coach",
}

var botDescriptions = []string{
	"Answers questions about leave, benefits and the code of conduct.",
	"Customer-facing answers about the Nimbus N3 air purifier.",
	"",
	"Helps you file expenses under the 2024 travel policy.",
	"Public bot behind the partner API.",
	"Searches the developer portal sitemap.",
	"Everything a new joiner asks in week one.",
	"Runbooks for the payments platform.",
	"Finance reports for the leadership team.",
	"就業規則・経費精算規程・情報セキュリティ規程について回答します。",
	"Répond aux questions sur les congés, la mutuelle et le télétravail.",
	"",
}

var botInstructions = []string{
	"You are an HR assistant. Answer only from the provided documents and cite the policy section.",
	"You are a friendly support agent for Nimbus. If unsure, ask the customer for the serial number.",
	"Be creative, propose at least three alternatives and ask one clarifying question.",
	"Answer with the exact limits from the travel policy. Amounts are in EUR unless stated.",
	"Answer concisely. Never reveal internal pricing.",
	"Prefer code examples. Link to the page you used.",
	"Use a warm tone. Suggest who to contact when the documents do not say.",
	"Give the runbook steps in order. Warn before any destructive command.",
	"Quote figures exactly as reported. Say which quarter a figure belongs to.",
	"日本語で丁寧に回答してください。根拠となる条文を示してください。",
	"Réponds en français, de façon précise, en citant l'article concerné.",
	"Point out passive voice and suggest shorter sentences.",
}

var conversationOpeners = []string{
	"How many days of paid leave do I get in my first year?",
	"What is the hotel limit for a trip to Munich?",
	"Le filtre HEPA doit-il être changé tous les combien ?",
	"出張の日当はいくらですか？",
	"Give me three names for our new onboarding program.",
	"How do I rotate the payments API keys?",
	"¿Puedo llevar el purificador en el avión?",
}
