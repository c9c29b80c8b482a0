"""The ceiling: a bare FastAPI endpoint returning a fixed small JSON, served like the real app."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}
