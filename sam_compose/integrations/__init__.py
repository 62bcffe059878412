"""Agent integrations: LangChain tools and an MCP server over one shared service.

``service.AgentService`` holds the logic (file sandbox, limits, calls into the engine and
adapters); ``langchain.get_tools`` and ``mcp_server.build_server`` only translate.
"""
